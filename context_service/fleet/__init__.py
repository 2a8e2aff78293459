"""Running a fleet of bots: the bots file, its checks, the compose generator and the lease."""
