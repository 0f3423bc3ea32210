//! wxgate's one integration test binary: every suite is a module here, so the workspace links a
//! single test executable.

mod miniprogram;
mod outage;
mod proxy;
mod replicas;
mod storage;
