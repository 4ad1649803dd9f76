//! Behaviour of the simulator as a client sees it over HTTP, one module per concern.
//! All of it runs on the simulator's frozen clock: time moves only by `advance`.

mod behaviour {
    mod auth;
    pub mod common;
    mod data;
    mod faults;
    mod field;
    mod limits;
    mod paging;
    mod validation;
    mod zoho_readings;
    mod zoom_readings;
}
