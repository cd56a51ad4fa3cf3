#include "core/status.h"

const char *smg_status_str(int status) {
    switch (status) {
#define SMG__STATUS_STR(name, val, msg)                                                            \
    case (val):                                                                                    \
        return msg;
        SMG_STATUS_TABLE(SMG__STATUS_STR)
#undef SMG__STATUS_STR
    }
    return "unknown status";
}

const char *smg_status_name(int status) {
    switch (status) {
#define SMG__STATUS_NAME(name, val, msg)                                                           \
    case (val):                                                                                    \
        return "SMG_" #name;
        SMG_STATUS_TABLE(SMG__STATUS_NAME)
#undef SMG__STATUS_NAME
    }
    return "SMG_UNKNOWN";
}
