//! The listener: HTTP/1.1 over TCP or TLS with the configured limits and timeouts, and the
//! `Expect: 100-continue` gate, which authenticates a request before the client is told to send
//! its body: a client with a bad key does not upload gigabytes only to be refused. What the gate
//! verified travels on with the request ([`crate::dispatch::gate`]). Keys and the
//! certificate can be swapped while serving ([`HttpServer::reload`]), connections kept.
//!
//! The console's and the operations listener's connections are made the same way
//! ([`listen_timed`]): the same timeouts, and the same end between requests when the server
//! stops.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_http::error::DispatchError;
use actix_http::{HttpService, KeepAlive, Protocol, Request};
use actix_server::ServerHandle;
use actix_service::{fn_service, map_config, ServiceFactoryExt};
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_tls::accept::TlsError;
use actix_web::dev::AppConfig;
use actix_web::{web, App};
use futures_util::future::ready;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use s3gate_config::{Config, ServerConfig, TlsVersion};
use s3gate_vfs::Vfs;
use tokio::net::TcpStream;

use crate::auth::Keys;
use crate::ctx::ServerState;
use crate::timed::{counted, Stopping, Timed};

/// The running HTTP server.
pub struct HttpServer {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    web_addr: Option<SocketAddr>,
    /// Samples the counters for the console's status page, while the console is served.
    sampler: Option<tokio::task::JoinHandle<()>>,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<io::Result<()>>,
    state: web::Data<ServerState>,
    certificate: Option<Arc<Certificate>>,
    /// Told when the server stops, so that its connections end between requests.
    stopping: Arc<Stopping>,
}

/// How every listener's connections are timed, and the stop they end at.
#[derive(Clone)]
struct Connections {
    read_timeout: Duration,
    idle_timeout: Duration,
    write_timeout: Duration,
    stopping: Arc<Stopping>,
}

impl Connections {
    fn timed<T>(&self, io: T) -> Timed<T> {
        Timed::new(
            io,
            self.write_timeout,
            self.idle_timeout + self.read_timeout,
            self.stopping.clone(),
        )
    }
}

/// The server's certificate, read again on reload; every new TLS handshake takes the current one.
#[derive(Debug)]
struct Certificate(RwLock<Arc<rustls::sign::CertifiedKey>>);

impl rustls::server::ResolvesServerCert for Certificate {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.0.read().ok().map(|c| c.clone())
    }
}

/// The builder of an HTTP service over `Timed` connections, timed as `$conns` says: each
/// request finds its connection's request count among its connection data.
macro_rules! timed_service {
    ($conns:expr) => {
        HttpService::build()
            .client_request_timeout($conns.read_timeout)
            .keep_alive(KeepAlive::Timeout($conns.idle_timeout))
            .on_connect_ext(|io: &Timed<_>, ext: &mut actix_http::Extensions| {
                ext.insert(io.requests());
            })
    };
}

/// Serves on `$listener` an HTTP/1.1 service whose connections are timed as `$conns` says and
/// tell their requests apart ([`Timed`]), over TLS when `$tls` holds a configuration (`$names`:
/// the listener's name with TLS, and without), or over plain TCP (`$name`); `$finish` makes
/// the service of `$b`, the builder so configured. A macro, as the service is built once per
/// stream type.
macro_rules! listen_timed {
    ($builder:expr, ($secure:expr, $plain:expr), $listener:expr, $tls:expr, $conns:expr,
     |$b:ident| $finish:expr) => {{
        let conns: Connections = $conns;
        match $tls {
            Some(tls) => $builder.listen($secure, $listener, move || {
                let conns = conns.clone();
                let mut acceptor = Acceptor::new(tls.clone());
                acceptor.set_handshake_timeout(conns.read_timeout);
                let $b = timed_service!(conns);
                let service = $finish;
                acceptor
                    .map_init_err(|_| ())
                    .map_err(TlsError::into_service_error)
                    .and_then(move |io: TlsStream<TcpStream>| {
                        let _ = io.get_ref().0.set_nodelay(true);
                        let peer = io.get_ref().0.peer_addr().ok();
                        ready(Ok((conns.timed(io), Protocol::Http1, peer)))
                    })
                    .and_then(service.map_err(TlsError::Service))
            }),
            None => listen_timed!($builder, $plain, $listener, conns, |$b| $finish),
        }
    }};
    ($builder:expr, $name:expr, $listener:expr, $conns:expr, |$b:ident| $finish:expr) => {{
        let conns: Connections = $conns;
        $builder.listen($name, $listener, move || {
            let conns = conns.clone();
            let $b = timed_service!(conns);
            let service = $finish;
            fn_service(move |io: TcpStream| {
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                ready(Ok::<_, DispatchError>((
                    conns.timed(io),
                    Protocol::Http1,
                    peer,
                )))
            })
            .and_then(service)
        })
    }};
}

impl HttpServer {
    /// Binds the configured address and starts serving on the current tokio runtime.
    /// Serves `vfs`, and to the users with a root of their own `roots` (by how the
    /// configuration names each root).
    pub fn start(
        config: Arc<Config>,
        vfs: Arc<Vfs>,
        roots: HashMap<String, Arc<Vfs>>,
    ) -> io::Result<HttpServer> {
        let certificate = match (&config.server.cert, &config.server.key) {
            (Some(cert), Some(key)) => Some(Arc::new(Certificate(RwLock::new(certified_key(
                cert, key,
            )?)))),
            _ => None,
        };
        let tls = certificate
            .as_ref()
            .map(|c| tls_config(&config.server, c.clone()))
            .transpose()?;
        let state = web::Data::new(ServerState {
            keys: RwLock::new(Keys::new(&config.auth.keys, &config.users)),
            metrics: Default::default(),
            config: config.clone(),
            vfs,
            roots,
        });
        let server_state = state.clone();
        let workers = match config.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let listener = std::net::TcpListener::bind(config.server.addr)?;
        let addr = listener.local_addr()?;
        let builder = actix_server::Server::build()
            .workers(workers)
            .shutdown_timeout(config.server.shutdown_timeout.as_secs())
            .disable_signals();
        let stopping = Arc::new(Stopping::default());
        let conns = Connections {
            read_timeout: config.server.read_timeout,
            idle_timeout: config.server.idle_timeout,
            write_timeout: config.server.write_timeout,
            stopping: stopping.clone(),
        };
        let (builder, metrics_addr) = match config.server.metrics_addr {
            Some(a) => {
                let listener = std::net::TcpListener::bind(a)?;
                let bound = listener.local_addr()?;
                let state = state.clone();
                let builder =
                    listen_timed!(builder, "s3gate-metrics", listener, conns.clone(), |b| b
                        .finish(map_config(
                            App::new()
                                .wrap_fn(counted)
                                .app_data(state.clone())
                                .route("/metrics", web::get().to(crate::ops_listener::scrape))
                                .route("/health", web::get().to(crate::ops_listener::health))
                                .route("/ready", web::get().to(crate::ops_listener::ready)),
                            |_| AppConfig::default(),
                        )))?;
                (builder, Some(bound))
            }
            None => (builder, None),
        };
        let (builder, web_addr, sampler) = match config.server.web_addr {
            Some(a) => {
                let listener = std::net::TcpListener::bind(a)?;
                let bound = listener.local_addr()?;
                let (history, sampler) = crate::console::sampled(&state);
                let state = state.clone();
                // The console is served over TLS when the S3 API is: the page's script needs a
                // secure context for its signatures anywhere but on a loopback address.
                let builder = listen_timed!(
                    builder,
                    ("s3gate-console-https", "s3gate-console"),
                    listener,
                    tls.clone(),
                    conns.clone(),
                    |b| b.finish(map_config(
                        crate::console::app(state.clone(), history.clone()),
                        |_| AppConfig::default(),
                    ))
                )?;
                (builder, Some(bound), Some(sampler))
            }
            None => (builder, None, None),
        };
        let builder = listen_timed!(
            builder,
            ("s3gate-https", "s3gate-http"),
            listener,
            tls,
            conns,
            |b| {
                let state = state.clone();
                let gate_state = state.clone();
                b.local_addr(addr)
                    .expect(fn_service(move |req: Request| {
                        let state = gate_state.clone();
                        async move {
                            match crate::dispatch::gate(&req, &state).await {
                                None => Ok(req),
                                Some(refused) => Err(refused),
                            }
                        }
                    }))
                    .finish(map_config(
                        App::new()
                            .app_data(state)
                            .default_service(web::to(crate::dispatch::dispatch)),
                        |_| AppConfig::default(),
                    ))
            }
        )?;
        let server = builder.run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(HttpServer {
            addr,
            metrics_addr,
            web_addr,
            sampler,
            handle,
            task,
            state: server_state,
            certificate,
            stopping,
        })
    }

    /// Takes the keys and the certificate of `config` (the rest of it is ignored: it needs a
    /// restart). Nothing changes unless everything could be read.
    pub fn reload(&self, config: &Config) -> io::Result<()> {
        // Roots are opened at start, with their index and background work.
        if let Some(root) = config
            .user_roots()
            .into_iter()
            .find(|r| !self.state.roots.contains_key(r))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a user's root {root:?} is served only after a restart"),
            ));
        }
        let cert = match (&self.certificate, &config.server.cert, &config.server.key) {
            (Some(_), Some(cert), Some(key)) => Some(certified_key(cert, key)?),
            (Some(_), _, _) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "HTTPS cannot be turned off by a reload",
                ))
            }
            (None, Some(_), _) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "HTTPS cannot be turned on by a reload",
                ))
            }
            (None, None, _) => None,
        };
        if let (Some(current), Some(new)) = (&self.certificate, cert) {
            *current
                .0
                .write()
                .map_err(|_| io::Error::other("certificate lock poisoned"))? = new;
        }
        *self
            .state
            .keys
            .write()
            .map_err(|_| io::Error::other("keys lock poisoned"))? =
            Keys::new(&config.auth.keys, &config.users);
        Ok(())
    }

    /// Where metrics, `/health` and `/ready` are served, when configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Where the web console is served, when configured.
    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.web_addr
    }

    /// Whether requests are served without authentication (no keys).
    pub fn anonymous(&self) -> bool {
        self.state.keys.read().is_ok_and(|k| k.anonymous())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for in-flight requests. Connections waiting for their next
    /// request end at once, the others once their request is answered: the stop waits for
    /// every connection, and an idle keep-alive one would otherwise last its idle timeout.
    pub async fn stop(self) {
        self.stopping.begin();
        self.handle.stop(true).await;
        let _ = self.task.await;
        if let Some(sampler) = self.sampler {
            sampler.abort();
        }
    }
}

fn tls_error(what: &str, path: &std::path::Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} {}: {e}", path.display()),
    )
}

/// Reads a certificate chain and its private key.
fn certified_key(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> io::Result<Arc<rustls::sign::CertifiedKey>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error("certificate", cert, e))?;
    if chain.is_empty() {
        return Err(tls_error("certificate", cert, "no certificate in the file"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error("key", key, e))?;
    let signing = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| tls_error("key", key, e))?;
    let certified = rustls::sign::CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| tls_error("certificate", cert, format!("does not match the key: {e}")))?;
    Ok(Arc::new(certified))
}

/// Checks the TLS files of a configuration as starting the server would.
pub fn check_tls(config: &Config) -> io::Result<()> {
    if let (Some(cert), Some(key)) = (&config.server.cert, &config.server.key) {
        let c = Arc::new(Certificate(RwLock::new(certified_key(cert, key)?)));
        tls_config(&config.server, c)?;
    }
    Ok(())
}

/// The rustls configuration: the (reloadable) certificate, the accepted versions, and client
/// certificate verification when a client CA is configured.
fn tls_config(
    server: &ServerConfig,
    certificate: Arc<Certificate>,
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
    Ok(builder.with_cert_resolver(certificate))
}
