// Cluster compression: raw deflate with a 4 KiB window (-12), or zstd.
#include <zlib.h>

#include <cerrno>

#include "block/qcow2/qcow2.h"
#ifdef EMU_HAVE_ZSTD
#include <zstd.h>
#endif

namespace emu::block {

bool Qcow2Compress(int type, const uint8_t* in, size_t len, std::vector<uint8_t>* out) {
  out->resize(len);
  if (type == 0) {
    z_stream z = {};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
      return false;
    z.next_in = const_cast<uint8_t*>(in);
    z.avail_in = static_cast<uInt>(len);
    z.next_out = out->data();
    z.avail_out = static_cast<uInt>(out->size());
    int r = deflate(&z, Z_FINISH);
    size_t n = out->size() - z.avail_out;
    deflateEnd(&z);
    if (r != Z_STREAM_END) return false;
    out->resize(n);
    return true;
  }
#ifdef EMU_HAVE_ZSTD
  size_t n = ZSTD_compress(out->data(), out->size(), in, len, 1);
  if (ZSTD_isError(n)) return false;
  out->resize(n);
  return true;
#else
  return false;
#endif
}

Status Qcow2Decompress(int type, const uint8_t* in, size_t in_len, uint8_t* out, size_t out_len) {
  if (type == 0) {
    z_stream z = {};
    if (inflateInit2(&z, -12) != Z_OK) return Status::Error(ENOMEM, "inflateInit failed");
    z.next_in = const_cast<uint8_t*>(in);
    z.avail_in = static_cast<uInt>(in_len);
    z.next_out = out;
    z.avail_out = static_cast<uInt>(out_len);
    int r = inflate(&z, Z_FINISH);
    size_t got = out_len - z.avail_out;
    inflateEnd(&z);
    // The stored size is rounded up to sectors: the stream may end early, but
    // it must fill the cluster.
    if ((r != Z_STREAM_END && r != Z_BUF_ERROR && r != Z_OK) || got != out_len)
      return Status::Error(EIO, "bad deflate data");
    return Status::Ok();
  }
#ifdef EMU_HAVE_ZSTD
  ZSTD_DCtx* d = ZSTD_createDCtx();
  if (!d) return Status::Error(ENOMEM, "ZSTD_createDCtx failed");
  ZSTD_inBuffer ib = {in, in_len, 0};
  ZSTD_outBuffer ob = {out, out_len, 0};
  size_t r = 1;
  while (ob.pos < ob.size && ib.pos < ib.size) {
    r = ZSTD_decompressStream(d, &ob, &ib);
    if (ZSTD_isError(r) || r == 0) break;
  }
  ZSTD_freeDCtx(d);
  if (ZSTD_isError(r) || ob.pos != out_len) return Status::Error(EIO, "bad zstd data");
  return Status::Ok();
#else
  return Status::Error(ENOTSUP, "zstd compression is not supported by this build");
#endif
}

}  // namespace emu::block
