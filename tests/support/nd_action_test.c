/* nd_action_test.c — see nd_action_test.h. */
#include "nd_action_test.h"

#include <avro.h>
#include <check.h>
#include <stdio.h>

static avro_schema_t schema;
static avro_value_iface_t *iface;

static void load_schema(void) {
        FILE *f;
        char json[65536];
        size_t n;
        if (iface)
                return;
        f = fopen(ND_SOURCE_DIR "/schemas/action.avsc", "r");
        ck_assert_msg(f != NULL, "cannot open schemas/action.avsc");
        n = fread(json, 1, sizeof(json) - 1, f);
        fclose(f);
        json[n] = '\0';
        ck_assert_int_eq(avro_schema_from_json_length(json, n, &schema), 0);
        iface = avro_generic_class_from_schema(schema);
        ck_assert_ptr_nonnull(iface);
}

/* A string, enum symbol or nullable string field; "" for null. */
static const char *str_field(avro_value_t *rec, const char *name) {
        avro_value_t f, br;
        const char *s = NULL;
        size_t n;
        if (avro_value_get_by_name(rec, name, &f, NULL))
                return "";
        if (avro_value_get_type(&f) == AVRO_UNION) {
                avro_value_get_current_branch(&f, &br);
                if (avro_value_get_type(&br) == AVRO_NULL)
                        return "";
                f = br;
        }
        if (avro_value_get_type(&f) == AVRO_ENUM) {
                int sym;
                avro_value_get_enum(&f, &sym);
                return avro_schema_enum_get(avro_value_get_schema(&f), sym);
        }
        avro_value_get_string(&f, &s, &n);
        return s ? s : "";
}

static int64_t long_field(avro_value_t *rec, const char *name) {
        avro_value_t f;
        int64_t v = -1;
        int32_t i;
        if (avro_value_get_by_name(rec, name, &f, NULL))
                return -1;
        if (avro_value_get_type(&f) == AVRO_INT32) {
                avro_value_get_int(&f, &i);
                return i;
        }
        avro_value_get_long(&f, &v);
        return v;
}

void nd_at_decode(const void *value, size_t len, nd_at_action_t *out) {
        const unsigned char *b = value;
        avro_reader_t rd;
        avro_value_t val;
        const char *who;

        load_schema();
        ck_assert_msg(b && len > 5 && b[0] == 0,
                      "an action is not in the Confluent wire format");
        avro_generic_value_new(iface, &val);
        rd = avro_reader_memory((const char *)b + 5, (int64_t)len - 5);
        ck_assert_msg(avro_value_read(rd, &val) == 0,
                      "a standard Avro reader cannot decode an action: %s",
                      avro_strerror());
        snprintf(out->id, sizeof(out->id), "%s", str_field(&val, "action_id"));
        snprintf(out->trigger, sizeof(out->trigger), "%s",
                 str_field(&val, "trigger"));
        snprintf(out->trigger_name, sizeof(out->trigger_name), "%s",
                 str_field(&val, "trigger_name"));
        who = str_field(&val, "customer_id");
        snprintf(out->customer, sizeof(out->customer), "%s",
                 *who ? who : str_field(&val, "anonymous_id"));
        snprintf(out->channel, sizeof(out->channel), "%s",
                 str_field(&val, "channel"));
        out->stage = (int)long_field(&val, "stage");
        out->created_at = long_field(&val, "created_at");
        avro_reader_free(rd);
        avro_value_decref(&val);
}
