"""RateLimitPerDay: exact daily request counts per client IP, shared by all workers.

The counts live in a fixed-size hash table in DataDirectory/run/ratelimit.shm,
mapped by every worker and updated atomically (tracker._fast.SharedCounter).
"""

from tracker._fast.shmcounter_py import CounterFileError
from tracker.ratelimit.keys import ip_key_hasher
from tracker.ratelimit.limiter import DailyRateLimiter, seconds_until_next_utc_day, utc_day
from tracker.ratelimit.shmfile import DEFAULT_CAPACITY, open_counter_file, prepare_counter_file

__all__ = [
    "DEFAULT_CAPACITY",
    "CounterFileError",
    "DailyRateLimiter",
    "ip_key_hasher",
    "open_counter_file",
    "prepare_counter_file",
    "seconds_until_next_utc_day",
    "utc_day",
]
