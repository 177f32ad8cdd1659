/* blob.c — see blob.h. */
#include "blob.h"

nd_err_t nd_blob_splice(nd_ctx_t *ctx, nd_entry_t *e, uint32_t *used,
                        uint32_t off, uint32_t old_len, const void *src,
                        uint32_t new_len) {
        uint32_t tail = *used - off - old_len;
        uint8_t *b;
        nd_err_t err;

        if (new_len > old_len) {
                uint64_t need = (uint64_t)*used + (new_len - old_len);
                size_t have;
                nd_entry_blob(e, &have);
                if (need > UINT32_MAX)
                        return ND_ERR_BAD_LENGTH;
                if (need > have &&
                    (err = nd_ctx_blob_resize(ctx, e, (size_t)need)) != ND_OK)
                        return err;
                b = nd_blob_bytes(e);
                memmove(b + off + new_len, b + off + old_len, tail);
        } else {
                b = nd_blob_bytes(e);
                if (tail && new_len != old_len)
                        memmove(b + off + new_len, b + off + old_len, tail);
        }
        if (new_len) {
                if (src)
                        memcpy(b + off, src, new_len);
                else
                        memset(b + off, 0, new_len);
        }
        *used = *used - old_len + new_len;
        if (new_len < old_len) {
                /* WHY the error is ignored: a blob longer than *used only
                 * wastes bytes, and the shrink never loses any in use. */
                (void)nd_ctx_blob_resize(ctx, e, *used);
        }
        nd_ctx_changed(ctx, e);
        return ND_OK;
}
