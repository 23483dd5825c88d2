//! The GitOps loop end to end, one module per scenario of issue 7, all in
//! one test binary (one link instead of seven; worlds take turns anyway).

mod example;
mod harness;
