//! Black-box tests of the simulator over HTTP: one binary, one harness (style.md §2.3 habit 8).

mod harness;

mod control;
mod echo;
mod login;
mod oa_receiver;
mod oauth;
mod officialaccount;
mod ops;
mod phone;
mod tokens;
mod wecom;
mod wxacode;
