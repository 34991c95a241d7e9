// <linux/kvm.h> for C++. The uapi headers of Linux 6.1 (Debian 12) declare flexible
// array members through __DECLARE_FLEX_ARRAY, which wraps them in an empty struct;
// in C++ an empty struct takes one byte, so kvm_cpuid2, kvm_msrs and kvm_msr_list get
// the wrong layout and the wrong ioctl numbers (EINVAL from KVM_GET_SUPPORTED_CPUID).
// Declare them as plain (GNU) flexible arrays instead, as C sees them.
#pragma once

#include <linux/stddef.h>

#undef __DECLARE_FLEX_ARRAY
#define __DECLARE_FLEX_ARRAY(TYPE, NAME) TYPE NAME[0]

#include <linux/kvm.h>

static_assert(sizeof(kvm_cpuid2) == 8, "kvm_cpuid2 layout");
static_assert(sizeof(kvm_msrs) == 8, "kvm_msrs layout");
static_assert(sizeof(kvm_msr_list) == 4, "kvm_msr_list layout");
static_assert(sizeof(kvm_irq_routing) == 8, "kvm_irq_routing layout");
