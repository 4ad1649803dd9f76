//! Shared support for trawl's integration tests and benches: starting the `tansu`
//! broker on a free loopback port, reading topics back, comparing with the simulator's
//! ground truth. Nothing here ships in the `trawl` binary.
