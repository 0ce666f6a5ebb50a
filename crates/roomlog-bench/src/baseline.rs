//! The HTTP baseline for GetRoomEvent: a bare hyper HTTP/1.1 server that answers each known
//! request body with a response body captured from roomlog in the same run (byte-identical),
//! with roomlog's status and `Content-Type`, but no parsing, no authentication and no storage.
//! It runs as its own process (this binary, `baseline-server`), on a multi-threaded tokio
//! runtime like roomlog's, so both servers compete with the load generator for the same cores
//! in the same way.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

type Routes = Arc<HashMap<Bytes, Bytes>>;

/// `routes`: `REQUEST_BODY_FILE=RESPONSE_BODY_FILE`.
pub fn main(listen: &str, routes: &[String]) -> anyhow::Result<()> {
    let mut table = HashMap::new();
    for route in routes {
        let (request, response) = route
            .split_once('=')
            .ok_or_else(|| anyhow!("--route {route}: expected REQUEST_FILE=RESPONSE_FILE"))?;
        let read = |path: &str| {
            std::fs::read(PathBuf::from(path)).with_context(|| format!("reading {path}"))
        };
        table.insert(Bytes::from(read(request)?), Bytes::from(read(response)?));
    }
    let routes: Routes = Arc::new(table);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(listen, routes))
}

async fn serve(listen: &str, routes: Routes) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("baseline listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let routes = Arc::clone(&routes);
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(Arc::clone(&routes), request));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    routes: Routes,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the whole request body, as roomlog must.
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let (status, body) = match routes.get(&body) {
        Some(answer) => (StatusCode::OK, answer.clone()),
        None => (
            StatusCode::NOT_FOUND,
            Bytes::from_static(b"unknown request"),
        ),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}
