//! Wrapping `u32` millisecond ticks, as HAProxy's `ticks.h` compares them.
//!
//! Ticks wrap around every 49.7 days, so "earlier" is decided by the sign of the
//! wrapping difference, which is exact as long as the two ticks are less than 2^31 ms
//! (24.8 days) apart.

/// How far back from `now` the wrapping order starts: a timer expiring at `e` comes
/// `e - (now - LOOK_BACK)` (wrapping) ticks into it. HAProxy's `TIMER_LOOK_BACK`.
pub(crate) const LOOK_BACK: u32 = 1 << 31;

/// Whether tick `a` comes before tick `b`, in wrapping order.
#[inline]
pub fn tick_is_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// Whether a timer set for `expire` has expired at `now` (`expire <= now`, wrapping).
#[inline]
pub fn tick_is_expired(expire: u32, now: u32) -> bool {
    !tick_is_lt(now, expire)
}

/// Where the wrapping order seen from `now` starts.
#[inline(always)]
pub(crate) fn split_of(now: u32) -> u32 {
    now.wrapping_sub(LOOK_BACK)
}
