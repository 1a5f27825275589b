//! A step component that also imports an interface the host does not
//! provide: loading it must fail, naming the import.

use wflow_guest::prelude::*;

mod alien {
    wit_bindgen::generate!({
        inline: "
            package alien:net;
            interface socket { open: func(host: string) -> u32; }
            world alien { import socket; }
        ",
    });
}

#[step]
fn phone_home(_ev: StartEvent) -> StopEvent {
    StopEvent::result(alien::alien::net::socket::open("example.com"))
}

export_steps!(phone_home);
