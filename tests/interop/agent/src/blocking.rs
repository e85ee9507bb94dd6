//! The blocking driver (`hybi::serve`, `hybi::connect_with`,
//! `Connection::{send, recv, ping, close_with, close_status, deflate,
//! protocol}`) running the script.

use std::sync::{mpsc, Arc, Mutex};

use hybi::{connect_with, serve, Connection, Protocol};
use serde_json::json;

use crate::report::Report;
use crate::script::{message_of, Script};
use crate::{
    close_args, on_stdin_end, print, refused_report, ClientSetup, Driver, ServerSetup, CLIENT_CLOSE_CODE,
    CLIENT_WAIT, SERVER_CLOSE_CODE,
};

const DRIVER: Driver = Driver::Native;

pub fn run_server(setup: ServerSetup) -> Result<(), String> {
    let ServerSetup { script, close_after, options } = setup;
    let script = Arc::new(script);
    // The handler and the stdin watcher each tell main to stop.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let stdin_done = done_tx.clone();
    let done = Mutex::new(done_tx);
    let server = serve(
        move |conn, ()| {
            let report = serve_one(&conn, &script, close_after);
            print(&report.to_json());
            let _ = done.lock().map(|d| d.send(()));
        },
        options,
    )
    .map_err(|e| format!("serve: {e}"))?;
    print(&json!({"listening": server.local_addr().port()}));
    on_stdin_end(move || {
        let _ = stdin_done.send(());
    });
    let _ = done_rx.recv();
    server.stop();
    Ok(())
}

fn serve_one(conn: &Connection, script: &Script, close_after: Option<usize>) -> Report {
    let mut report = Report::new(DRIVER.implementation(), "server");
    let protocol = conn.protocol();
    report.opened(protocol, conn.deflate());
    let rfc6455 = protocol == Protocol::Rfc6455;
    loop {
        match conn.recv() {
            Ok(Some(message)) => {
                let index = report.received.len();
                report.received(script, &message);
                if rfc6455 && script.server_pings_before(index) {
                    match conn.ping(format!("s{index}").as_bytes()) {
                        Ok(()) => report.pings_sent += 1,
                        Err(e) => report.errors.push(format!("ping before echo {index}: {e}")),
                    }
                }
                if let Err(e) = conn.send(&message) {
                    report.errors.push(format!("echo {index}: {e}"));
                    break;
                }
                if close_after == Some(index + 1) {
                    let (code, reason) = close_args(protocol, SERVER_CLOSE_CODE);
                    if let Err(e) = conn.close_with(code, reason) {
                        report.errors.push(format!("close: {e}"));
                    }
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                report.errors.push(format!("recv after {} messages: {e}", report.received.len()));
                break;
            }
        }
    }
    report.spoke(conn.protocol());
    report.closed(conn.close_status().as_ref());
    report
}

pub fn run_client(setup: ClientSetup) -> Result<(), String> {
    let ClientSetup { script, url, protocol, closes, expect_refusal, options } = setup;
    let mut report = Report::new(DRIVER.implementation(), "client");
    let conn = match connect_with(&url, options) {
        Ok(conn) => conn,
        Err(e) => {
            print(&refused_report(DRIVER, expect_refusal, &e));
            return Ok(());
        }
    };
    if expect_refusal {
        report.errors.push("connected, but the server was expected to refuse".into());
    }
    conn.set_read_timeout(Some(CLIENT_WAIT));
    report.opened(conn.protocol(), conn.deflate());
    let rfc6455 = protocol == Protocol::Rfc6455;
    let mut ok = true;
    for (index, step) in script.steps.iter().enumerate() {
        if rfc6455 && script.client_pings_before(index) {
            match conn.ping(format!("c{index}").as_bytes()) {
                Ok(()) => report.pings_sent += 1,
                Err(e) => report.errors.push(format!("ping before message {index}: {e}")),
            }
        }
        if let Err(e) = conn.send(&message_of(step)) {
            report.errors.push(format!("send {index} ({}): {e}", step.label));
            ok = false;
            break;
        }
        if !report.echo(&script, index, conn.recv()) {
            ok = false;
            break;
        }
    }
    if ok {
        if closes {
            let (code, reason) = close_args(protocol, CLIENT_CLOSE_CODE);
            if let Err(e) = conn.close_with(code, reason) {
                report.errors.push(format!("close: {e}"));
            }
        } else {
            // Anything before the close is recorded (and fails the check
            // as "expected nothing"); the orchestrator decides.
            while report.before_close(&script, conn.recv()) {}
        }
    }
    report.closed(conn.close_status().as_ref());
    print(&report.to_json());
    Ok(())
}
