//! The reconcilers crate's integration tests, in one binary: each module is one area, and
//! linking one test binary instead of 11 keeps CI's build time and disk use down.

mod source_fixtures;

mod apply;
mod build;
mod gate;
mod gitrepository;
mod health;
mod kustomization;
mod leader_election;
mod operator;
mod prune;
mod receiver_webhook;
mod substitute;
