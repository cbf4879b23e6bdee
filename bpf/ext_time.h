/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * -m time: xt_time.c's time_mt() on the realtime clock. Included by ebpf_iptables.bpf.c.
 *
 * The kernel tests `stamp = ktime_get_real_seconds()` when it runs the rule: the realtime
 * seconds of the last timekeeping update (at most a few ticks old), read a little after
 * XDP ran. XDP reads CLOCK_TAI (bpf_ktime_get_tai_ns; there is no realtime helper) minus
 * the TAI offset the Loader wrote (time_config), S = its whole seconds: the kernel's stamp
 * is then one of S - 1, S, S + 1. The test answers only when time_mt() gives the same
 * answer for all three; within a second of any boundary of the rule (a date, a daytime,
 * midnight for the day masks) it answers MAYBE and the kernel decides. Also MAYBE: no
 * offset written, CLOCK_TAI moved against CLOCK_MONOTONIC since it was (a clock step or a
 * new TAI offset: time_config), a clock before 1970-01-02, a month-day test past 2039 (xt_time's year
 * table ends there). Only UTC rules are written: --kerneltz needs sys_tz, which XDP cannot
 * read (the compiler leaves those rules to the kernel).
 */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eipt_time_config);
} time_config SEC(".maps");

#define EIPT_SECONDS_PER_DAY 86400ULL
#define EIPT_TIME_ALL_MONTHDAYS 0xfffffffeu
/* days from 1970-01-01 to 2040-01-01: xt_time's days_since_epoch[] covers 1970..2039 */
#define EIPT_TIME_DSE_END 25567u
/* A TAI offset change is whole seconds; smaller clock steps leave the offset right. */
#define EIPT_TIME_MAX_DRIFT_NS 500000000LL

/* The day of the month of day `dse` since 1970-01-01 (the proleptic Gregorian civil date,
 * as xt_time's localtime_3 finds it from its year and month tables for 1970..2039). */
static __always_inline __u32 eipt_time_monthday(__u32 dse)
{
	__u32 z = dse + 719468; /* days since 0000-03-01 */
	__u32 era = z / 146097;
	__u32 doe = z - era * 146097;
	__u32 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	__u32 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	__u32 mp = (5 * doy + 2) / 153;

	return doy - (153 * mp + 2) / 5 + 1;
}

/* time_mt() for one stamp (UTC seconds): 1 matches, 0 does not, -1 cannot tell. */
static __always_inline int eipt_time_at(const struct eipt_ext_time *t, __u64 stamp)
{
	__u32 packet_time, dse, weekday;

	/* The kernel compares its signed stamp with the unsigned 32-bit dates. */
	if (stamp < t->date_start || stamp > t->date_stop)
		return 0;
	if (stamp < EIPT_SECONDS_PER_DAY)
		return -1;
	packet_time = stamp % EIPT_SECONDS_PER_DAY;
	if (t->daytime_start < t->daytime_stop) {
		if (packet_time < t->daytime_start || packet_time > t->daytime_stop)
			return 0;
	} else {
		if (packet_time < t->daytime_start && packet_time > t->daytime_stop)
			return 0;
		/* --contiguous: the early part of the window belongs to the day before. */
		if ((t->flags & EIPT_TIME_F_CONTIGUOUS) && packet_time <= t->daytime_stop)
			stamp -= EIPT_SECONDS_PER_DAY;
	}
	dse = stamp / EIPT_SECONDS_PER_DAY;
	/* 1970-01-01 was a Thursday (4); Monday 1 .. Sunday 7. */
	weekday = (4 + dse - 1) % 7 + 1;
	if (!(t->weekdays & (1u << weekday)))
		return 0;
	if (t->monthdays != EIPT_TIME_ALL_MONTHDAYS) {
		if (dse >= EIPT_TIME_DSE_END)
			return -1;
		if (!(t->monthdays & (1u << (eipt_time_monthday(dse) & 31))))
			return 0;
	}
	return 1;
}

static __attribute__((noinline)) int eipt_ext_time(struct eipt_ext *e)
{
	const struct eipt_ext_time *t = EIPT_EXT_DATA(e, time);
	struct eipt_time_config *c;
	__u32 zero = 0;
	__s64 real, tai, drift;
	__u64 s;
	int before, now, after;

	c = bpf_map_lookup_elem(&time_config, &zero);
	if (!c || !c->valid)
		return EIPT_EXT_MAYBE;
	tai = (__s64)bpf_ktime_get_tai_ns();
	/* CLOCK_TAI - CLOCK_MONOTONIC is the kernel's offs_tai: it changes when the realtime
	 * clock is stepped or the TAI offset is set (adjtimex ADJ_TAI), not otherwise. Since the
	 * Loader read the offset, has it? Then the offset may be stale: the kernel decides. */
	drift = tai - (__s64)bpf_ktime_get_ns() - c->tai_mono_ns;
	if (drift > EIPT_TIME_MAX_DRIFT_NS || drift < -EIPT_TIME_MAX_DRIFT_NS)
		return EIPT_EXT_MAYBE;
	real = tai - c->tai_offset * 1000000000LL;
	if (real <= 0)
		return EIPT_EXT_MAYBE;
	s = (__u64)real / 1000000000ULL;
	before = eipt_time_at(t, s - 1);
	now = eipt_time_at(t, s);
	after = eipt_time_at(t, s + 1);
	if (now < 0 || before != now || after != now)
		return EIPT_EXT_MAYBE;
	return now != !!e->neg ? EIPT_EXT_YES : EIPT_EXT_NO;
}
