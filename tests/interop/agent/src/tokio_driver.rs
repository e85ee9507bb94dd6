//! The async driver (`hybi::tokio::{serve, connect}`, `WebSocket::{send,
//! recv, ping, close, close_status, protocol, request, response}`) running
//! the script on a current-thread tokio runtime: the same steps as
//! `blocking.rs`, awaited.

use std::net::SocketAddr;
use std::sync::Arc;

use hybi::tokio::{connect, serve, WebSocket};
use hybi::Protocol;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::report::Report;
use crate::script::{message_of, Script};
use crate::{
    close_args, on_stdin_end, print, refused_report, ClientSetup, Driver, ServerSetup, CLIENT_CLOSE_CODE,
    CLIENT_WAIT, SERVER_CLOSE_CODE,
};

const DRIVER: Driver = Driver::Tokio;

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

pub fn run_server(setup: ServerSetup) -> Result<(), String> {
    let ServerSetup { script, close_after, options } = setup;
    let script = Arc::new(script);
    runtime()?.block_on(async move {
        // The handler and the stdin watcher each tell main to stop.
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<()>();
        let stdin_done = done_tx.clone();
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = serve(
            addr,
            move |mut ws, ()| {
                let script = Arc::clone(&script);
                let done = done_tx.clone();
                async move {
                    let report = serve_one(&mut ws, &script, close_after).await;
                    print(&report.to_json());
                    let _ = done.send(());
                }
            },
            options,
        )
        .await
        .map_err(|e| format!("serve: {e}"))?;
        print(&json!({"listening": server.local_addr().port()}));
        on_stdin_end(move || {
            let _ = stdin_done.send(());
        });
        let _ = done_rx.recv().await;
        server.stop().await;
        Ok(())
    })
}

async fn serve_one<S>(ws: &mut WebSocket<S>, script: &Script, close_after: Option<usize>) -> Report
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    let mut report = Report::new(DRIVER.implementation(), "server");
    let protocol = ws.protocol();
    report.opened(protocol, ws.deflate());
    let rfc6455 = protocol == Protocol::Rfc6455;
    loop {
        match ws.recv().await {
            Ok(Some(message)) => {
                let index = report.received.len();
                report.received(script, &message);
                if rfc6455 && script.server_pings_before(index) {
                    match ws.ping(format!("s{index}").as_bytes()).await {
                        Ok(()) => report.pings_sent += 1,
                        Err(e) => report.errors.push(format!("ping before echo {index}: {e}")),
                    }
                }
                if let Err(e) = ws.send(&message).await {
                    report.errors.push(format!("echo {index}: {e}"));
                    break;
                }
                if close_after == Some(index + 1) {
                    let (code, reason) = close_args(protocol, SERVER_CLOSE_CODE);
                    if let Err(e) = ws.close(code, reason).await {
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
    report.spoke(ws.protocol());
    report.closed(ws.close_status());
    report
}

pub fn run_client(setup: ClientSetup) -> Result<(), String> {
    runtime()?.block_on(client(setup));
    Ok(())
}

async fn client(setup: ClientSetup) {
    let ClientSetup { script, url, protocol, closes, expect_refusal, options } = setup;
    let mut report = Report::new(DRIVER.implementation(), "client");
    let mut ws = match connect(&url, options).await {
        Ok(ws) => ws,
        Err(e) => {
            print(&refused_report(DRIVER, expect_refusal, &e));
            return;
        }
    };
    if expect_refusal {
        report.errors.push("connected, but the server was expected to refuse".into());
    }
    report.opened(ws.protocol(), ws.deflate());
    let rfc6455 = protocol == Protocol::Rfc6455;
    let mut ok = true;
    for (index, step) in script.steps.iter().enumerate() {
        if rfc6455 && script.client_pings_before(index) {
            match ws.ping(format!("c{index}").as_bytes()).await {
                Ok(()) => report.pings_sent += 1,
                Err(e) => report.errors.push(format!("ping before message {index}: {e}")),
            }
        }
        if let Err(e) = ws.send(&message_of(step)).await {
            report.errors.push(format!("send {index} ({}): {e}", step.label));
            ok = false;
            break;
        }
        // A stuck peer must fail the cell, not hang the suite (`recv` is
        // cancel-safe: the timeout dropping it loses nothing).
        let going_on = match timeout(CLIENT_WAIT, ws.recv()).await {
            Ok(got) => report.echo(&script, index, got),
            Err(_) => {
                report.errors.push(format!("no echo {index} within {CLIENT_WAIT:?}"));
                false
            }
        };
        if !going_on {
            ok = false;
            break;
        }
    }
    if ok {
        if closes {
            let (code, reason) = close_args(protocol, CLIENT_CLOSE_CODE);
            if let Err(e) = ws.close(code, reason).await {
                report.errors.push(format!("close: {e}"));
            }
        } else {
            // Anything before the close is recorded (and fails the check
            // as "expected nothing"); the orchestrator decides.
            loop {
                match timeout(CLIENT_WAIT, ws.recv()).await {
                    Ok(got) => {
                        if !report.before_close(&script, got) {
                            break;
                        }
                    }
                    Err(_) => {
                        report.errors.push(format!("no close from the server within {CLIENT_WAIT:?}"));
                        break;
                    }
                }
            }
        }
    }
    report.closed(ws.close_status());
    print(&report.to_json());
}
