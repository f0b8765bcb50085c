// SegEngine: see issue 3.
