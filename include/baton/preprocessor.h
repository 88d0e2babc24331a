/* SPDX-License-Identifier: MIT */
#ifndef BATON_PREPROCESSOR_H
#define BATON_PREPROCESSOR_H

/*
 * Preprocessor plumbing for the declaration macros in schema.h and driver.h.
 * Nothing here is API.  BATON__FOREACH(M, ctx, a, b, ...) expands to
 * M(ctx, 0, a) M(ctx, 0+1, b) ...: each item with a constant index, for up to
 * 64 items.  Generated; keep it regular.
 */

#define BATON__CAT_(a, b) a##b
#define BATON__CAT(a, b) BATON__CAT_(a, b)
#define BATON__STR_(x) #x
#define BATON__STR(x) BATON__STR_(x)
#define BATON__UNPAREN(...) __VA_ARGS__
#define BATON__APPLY(m, args) m args

#define BATON__NARG(...) BATON__NARG_(__VA_ARGS__, 64,63,62,61,60,59,58,57,56,55,54,53,52,51,50,49,48,47,46,45,44,43,42,41,40,39,38,37,36,35,34,33,32,31,30,29,28,27,26,25,24,23,22,21,20,19,18,17,16,15,14,13,12,11,10,9,8,7,6,5,4,3,2,1)
#define BATON__NARG_(_1,_2,_3,_4,_5,_6,_7,_8,_9,_10,_11,_12,_13,_14,_15,_16,_17,_18,_19,_20,_21,_22,_23,_24,_25,_26,_27,_28,_29,_30,_31,_32,_33,_34,_35,_36,_37,_38,_39,_40,_41,_42,_43,_44,_45,_46,_47,_48,_49,_50,_51,_52,_53,_54,_55,_56,_57,_58,_59,_60,_61,_62,_63,_64, n, ...) n

#define BATON__FOREACH(m, c, ...) \
	BATON__CAT(BATON__FE_, BATON__NARG(__VA_ARGS__))(m, c, 0, __VA_ARGS__)
#define BATON__FE_1(m, c, i, x) m(c, i, x)
#define BATON__FE_2(m, c, i, x, ...) m(c, i, x) BATON__FE_1(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_3(m, c, i, x, ...) m(c, i, x) BATON__FE_2(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_4(m, c, i, x, ...) m(c, i, x) BATON__FE_3(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_5(m, c, i, x, ...) m(c, i, x) BATON__FE_4(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_6(m, c, i, x, ...) m(c, i, x) BATON__FE_5(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_7(m, c, i, x, ...) m(c, i, x) BATON__FE_6(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_8(m, c, i, x, ...) m(c, i, x) BATON__FE_7(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_9(m, c, i, x, ...) m(c, i, x) BATON__FE_8(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_10(m, c, i, x, ...) m(c, i, x) BATON__FE_9(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_11(m, c, i, x, ...) m(c, i, x) BATON__FE_10(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_12(m, c, i, x, ...) m(c, i, x) BATON__FE_11(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_13(m, c, i, x, ...) m(c, i, x) BATON__FE_12(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_14(m, c, i, x, ...) m(c, i, x) BATON__FE_13(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_15(m, c, i, x, ...) m(c, i, x) BATON__FE_14(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_16(m, c, i, x, ...) m(c, i, x) BATON__FE_15(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_17(m, c, i, x, ...) m(c, i, x) BATON__FE_16(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_18(m, c, i, x, ...) m(c, i, x) BATON__FE_17(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_19(m, c, i, x, ...) m(c, i, x) BATON__FE_18(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_20(m, c, i, x, ...) m(c, i, x) BATON__FE_19(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_21(m, c, i, x, ...) m(c, i, x) BATON__FE_20(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_22(m, c, i, x, ...) m(c, i, x) BATON__FE_21(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_23(m, c, i, x, ...) m(c, i, x) BATON__FE_22(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_24(m, c, i, x, ...) m(c, i, x) BATON__FE_23(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_25(m, c, i, x, ...) m(c, i, x) BATON__FE_24(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_26(m, c, i, x, ...) m(c, i, x) BATON__FE_25(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_27(m, c, i, x, ...) m(c, i, x) BATON__FE_26(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_28(m, c, i, x, ...) m(c, i, x) BATON__FE_27(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_29(m, c, i, x, ...) m(c, i, x) BATON__FE_28(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_30(m, c, i, x, ...) m(c, i, x) BATON__FE_29(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_31(m, c, i, x, ...) m(c, i, x) BATON__FE_30(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_32(m, c, i, x, ...) m(c, i, x) BATON__FE_31(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_33(m, c, i, x, ...) m(c, i, x) BATON__FE_32(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_34(m, c, i, x, ...) m(c, i, x) BATON__FE_33(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_35(m, c, i, x, ...) m(c, i, x) BATON__FE_34(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_36(m, c, i, x, ...) m(c, i, x) BATON__FE_35(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_37(m, c, i, x, ...) m(c, i, x) BATON__FE_36(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_38(m, c, i, x, ...) m(c, i, x) BATON__FE_37(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_39(m, c, i, x, ...) m(c, i, x) BATON__FE_38(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_40(m, c, i, x, ...) m(c, i, x) BATON__FE_39(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_41(m, c, i, x, ...) m(c, i, x) BATON__FE_40(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_42(m, c, i, x, ...) m(c, i, x) BATON__FE_41(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_43(m, c, i, x, ...) m(c, i, x) BATON__FE_42(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_44(m, c, i, x, ...) m(c, i, x) BATON__FE_43(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_45(m, c, i, x, ...) m(c, i, x) BATON__FE_44(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_46(m, c, i, x, ...) m(c, i, x) BATON__FE_45(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_47(m, c, i, x, ...) m(c, i, x) BATON__FE_46(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_48(m, c, i, x, ...) m(c, i, x) BATON__FE_47(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_49(m, c, i, x, ...) m(c, i, x) BATON__FE_48(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_50(m, c, i, x, ...) m(c, i, x) BATON__FE_49(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_51(m, c, i, x, ...) m(c, i, x) BATON__FE_50(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_52(m, c, i, x, ...) m(c, i, x) BATON__FE_51(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_53(m, c, i, x, ...) m(c, i, x) BATON__FE_52(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_54(m, c, i, x, ...) m(c, i, x) BATON__FE_53(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_55(m, c, i, x, ...) m(c, i, x) BATON__FE_54(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_56(m, c, i, x, ...) m(c, i, x) BATON__FE_55(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_57(m, c, i, x, ...) m(c, i, x) BATON__FE_56(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_58(m, c, i, x, ...) m(c, i, x) BATON__FE_57(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_59(m, c, i, x, ...) m(c, i, x) BATON__FE_58(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_60(m, c, i, x, ...) m(c, i, x) BATON__FE_59(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_61(m, c, i, x, ...) m(c, i, x) BATON__FE_60(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_62(m, c, i, x, ...) m(c, i, x) BATON__FE_61(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_63(m, c, i, x, ...) m(c, i, x) BATON__FE_62(m, c, i + 1, __VA_ARGS__)
#define BATON__FE_64(m, c, i, x, ...) m(c, i, x) BATON__FE_63(m, c, i + 1, __VA_ARGS__)

#endif /* BATON_PREPROCESSOR_H */
