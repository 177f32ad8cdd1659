/* err.c — names, texts and classes of nd_err_t, all from ND_ERR_MAP, and the
 * errstr formatter of setup functions. */
#include "nudge/err.h"

#include <stdio.h>

nd_err_t nd_err_vfmt(char *errstr, size_t errstr_size, nd_err_t err,
                     const char *fmt, va_list ap) {
        if (errstr && errstr_size)
                vsnprintf(errstr, errstr_size, fmt, ap);
        return err;
}

nd_err_t nd_err_fmt(char *errstr, size_t errstr_size, nd_err_t err,
                    const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        err = nd_err_vfmt(errstr, errstr_size, err, fmt, ap);
        va_end(ap);
        return err;
}

const char *nd_err_str(nd_err_t err) {
        switch (err) {
        case ND_OK:
                return "success";
#define XX(name, val, cls, text) \
        case ND_ERR_##name:      \
                return text;
                ND_ERR_MAP(XX)
#undef XX
        }
        return "unknown error";
}

const char *nd_err_name(nd_err_t err) {
        switch (err) {
        case ND_OK:
                return "OK";
#define XX(name, val, cls, text) \
        case ND_ERR_##name:      \
                return #name;
                ND_ERR_MAP(XX)
#undef XX
        }
        return "UNKNOWN";
}

nd_err_class_t nd_err_class(nd_err_t err) {
        switch (err) {
        case ND_OK:
                return ND_ERR_CLASS_NONE;
#define XX(name, val, cls, text) \
        case ND_ERR_##name:      \
                return ND_ERR_CLASS_##cls;
                ND_ERR_MAP(XX)
#undef XX
        }
        return ND_ERR_CLASS_FATAL;
}
