//! The listener: HTTP/1.1 over TCP or TLS with the configured limits and timeouts, and the
//! `Expect: 100-continue` gate, which authenticates a request before the client is told to send
//! its body: a client with a bad key does not upload gigabytes only to be refused.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use actix_http::{HttpService, KeepAlive, Request};
use actix_server::ServerHandle;
use actix_service::{fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::{web, App};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use s3gate_config::{Config, ServerConfig, TlsVersion};
use s3gate_vfs::Vfs;

use crate::sigv4::Keys;
use crate::State;

/// The running HTTP server.
pub struct HttpServer {
    addr: SocketAddr,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<io::Result<()>>,
}

/// One HTTP service over the given stream type: the same app, gate, limits and timeouts for
/// plain TCP and for TLS (the two differ only in the final constructor).
macro_rules! http_service {
    ($state:expr, $server:expr, $addr:expr) => {{
        let state: web::Data<State> = $state;
        let gate_state = state.clone();
        HttpService::build()
            .client_request_timeout($server.read_timeout)
            .keep_alive(KeepAlive::Timeout($server.idle_timeout))
            .local_addr($addr)
            .expect(fn_service(move |req: Request| {
                let state = gate_state.clone();
                async move {
                    match crate::authorize(req.head(), &state) {
                        Ok(_) => Ok(req),
                        Err(e) => Err(e.to_response(req.path(), &crate::request_id(), false)),
                    }
                }
            }))
            .finish(map_config(
                App::new()
                    .app_data(state)
                    .default_service(web::to(crate::dispatch)),
                |_| AppConfig::default(),
            ))
    }};
}

impl HttpServer {
    /// Binds the configured address and starts serving on the current tokio runtime.
    pub fn start(config: Arc<Config>, vfs: Arc<Vfs>) -> io::Result<HttpServer> {
        let tls = match (&config.server.cert, &config.server.key) {
            (Some(cert), Some(key)) => Some(tls_config(&config.server, cert, key)?),
            _ => None,
        };
        let state = web::Data::new(State {
            keys: Keys::new(&config.auth.keys),
            config: config.clone(),
            vfs,
        });
        let workers = match config.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let listener = std::net::TcpListener::bind(config.server.addr)?;
        let addr = listener.local_addr()?;
        let builder = actix_server::Server::build()
            .workers(workers)
            .disable_signals();
        let server = config.server.clone();
        let builder = match tls {
            Some(tls) => builder.listen("s3gate-https", listener, move || {
                http_service!(state.clone(), server, addr).rustls_0_23(tls.clone())
            })?,
            None => builder.listen("s3gate-http", listener, move || {
                http_service!(state.clone(), server, addr).tcp()
            })?,
        };
        let server = builder.run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(HttpServer { addr, handle, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for in-flight requests.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}

fn tls_error(what: &str, path: &std::path::Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} {}: {e}", path.display()),
    )
}

/// The rustls configuration: our certificate, the accepted versions, and client certificate
/// verification when a client CA is configured.
fn tls_config(
    server: &ServerConfig,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> io::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match server.min_tls_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(io::Error::other)?;
    let builder = match &server.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).map_err(|e| tls_error("client CA", ca, e))? {
                roots
                    .add(c.map_err(|e| tls_error("client CA", ca, e))?)
                    .map_err(|e| tls_error("client CA", ca, e))?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| tls_error("client CA", ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error("certificate", cert, e))?;
    if chain.is_empty() {
        return Err(tls_error("certificate", cert, "no certificate in the file"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error("key", key, e))?;
    builder
        .with_single_cert(chain, key_der)
        .map_err(|e| tls_error("certificate", cert, e))
}
