//! Integration tests of baton-router through its public API: the shipped
//! catalogue against the shared price list, routing decisions, breakers and
//! telemetry as the router applies them, and properties of every decision.

// `cfg(test)` marks the modules as test code for clippy, so helpers may unwrap.
#[cfg(test)]
mod prices;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod routing;
#[cfg(test)]
mod support;
