//! The application: shared state, the HTTP/WebSocket server, background upkeep, shutdown.
//!
//! [`run`] is what `main` and the tests call: it takes a bound listener (tests bind
//! `127.0.0.1:0`), the validated config and a shutdown future.

use crate::auth::ratelimit::{AuthLimiter, RoomLimiter};
use crate::auth::RootKey;
use crate::config::Config;
use crate::db::Db;
use crate::matchmaking::queue::Matchmaker;
use crate::registry::{Cluster, Registry};
use crate::room::Engine;
use crate::{api, metrics, web as client};
use actix::{Actor, Addr};
use actix_http::{HttpService, KeepAlive, Protocol};
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::AppConfig;
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use utoipa_actix_web::AppExt;

/// State shared by every handler and actor of one server.
pub struct AppState {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// Database pool.
    pub db: Db,
    /// biscuit root key.
    pub key: RootKey,
    /// Login/register/guest limiter.
    pub auth_limiter: AuthLimiter,
    /// Private room creation limiter, per player.
    pub room_limiter: RoomLimiter,
    /// Redis pool when several instances share a registry.
    pub redis: Option<deadpool_redis::Pool>,
    /// Prometheus handle for `/metrics`.
    pub metrics: PrometheusHandle,
    /// Rooms, registry and their settings.
    pub engine: Arc<Engine>,
    /// The tournament actors running here (HTTP actions reach them through it).
    pub tournaments: crate::tournament::Tournaments,
    /// The quick-match queue.
    pub matchmaker: Addr<Matchmaker>,
}

/// Open the database (running migrations), load the root key, connect Redis.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    // Matches created before this are a previous run's (the stranded-match sweep).
    let started_ms = crate::db::now_ms();
    let config = Arc::new(config);
    let metrics = metrics::install()?;
    let cfg = config.clone();
    let db = web::block(move || -> anyhow::Result<Db> {
        let db = Db::open(&cfg.database, cfg.db_pool_size)?;
        let n = crate::commands::migrate_exclusive(&cfg.database, &db)?;
        if n > 0 {
            tracing::info!(applied = n, "database migrations applied");
        }
        Ok(db)
    })
    .await
    .map_err(|e| anyhow::anyhow!("start-up task failed: {e}"))??;
    let key = RootKey::load_or_generate(&config.root_key_file, config.redis_url.is_none())?;
    let redis = match &config.redis_url {
        None => None,
        Some(url) => {
            let pool = deadpool_redis::Config::from_url(url)
                .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                .context("RALLY_REDIS_URL: cannot create the Redis pool")?;
            if !redis_ping(&pool).await {
                anyhow::bail!("cannot reach Redis at RALLY_REDIS_URL");
            }
            Some(pool)
        }
    };
    let registry = match (&redis, &config.redis_url) {
        (Some(pool), Some(url)) => Registry::clustered(Cluster::new(
            pool.clone(),
            url,
            config.cluster.clone(),
            config.engine.session_queue,
        )),
        _ => Registry::new(),
    };
    // Durable writes: journaled in Redis with several instances, else in the outbox file; a
    // previous run's pending writes are read back here.
    let outbox = match registry.cluster() {
        Some(c) => {
            // A single-instance run's file (this instance ran without Redis before) is
            // finished first: its results were announced too.
            let database = crate::db::redact(&config.database);
            crate::durable::drain_file(&db, &config.outbox_file, &database).await?;
            crate::durable::Outbox::shared(db.clone(), c.clone())
        }
        None => {
            let (d, path) = (db.clone(), config.outbox_file.clone());
            let database = crate::db::redact(&config.database);
            web::block(move || crate::durable::Outbox::open_file(d, &path, &database))
                .await
                .map_err(|e| anyhow::anyhow!("start-up task failed: {e}"))??
        }
    };
    let engine = Engine::new(registry, db.clone(), outbox, config.engine.clone());
    engine.outbox.start();
    let recovered = engine.outbox.recovered();
    if recovered > 0 {
        // Before tournaments are restored: a restore abandons the rows still live, so it must
        // find the results that were announced before the previous run died.
        tracing::warn!(
            writes = recovered,
            file = %config.outbox_file.display(),
            "finishing the durable writes the previous run left pending"
        );
        engine.outbox.settle_all().await;
        tracing::info!(
            writes = recovered,
            "previous run's durable writes are in the database"
        );
    }
    let matchmaker = Matchmaker::new(engine.clone()).start();
    engine.set_requeue(matchmaker.clone().recipient());
    let counts = db.run(crate::db::tournaments::count_by_status).await?;
    crate::tournament::set_status_counts(&counts);
    let tournaments = crate::tournament::Tournaments::new();
    if let Some(c) = engine.registry.cluster() {
        let (e, t) = (engine.clone(), tournaments.clone());
        c.on_orphan(
            crate::registry::ResourceKind::Tournament,
            std::sync::Arc::new(move |id: String| {
                let (e, t) = (e.clone(), t.clone());
                actix::spawn(async move {
                    crate::tournament::actor::adopt(&e, &t, &id).await;
                });
            }),
        );
    }
    let restored = crate::tournament::actor::restore_all(&engine, &tournaments).await?;
    if restored > 0 {
        tracing::info!(restored, "unfinished tournaments restored");
    }
    // Matches whose room died with nobody to take it over are abandoned (crate::room::sweep).
    match engine.registry.cluster() {
        None => crate::room::sweep::sweep_previous_runs(engine.clone(), started_ms),
        Some(c) => crate::room::sweep::spawn_cluster_sweep(engine.clone(), c.clone()),
    }
    Ok(AppState {
        engine,
        tournaments,
        matchmaker,
        auth_limiter: AuthLimiter::new(config.auth_rate_per_minute),
        room_limiter: RoomLimiter::new(config.private_rooms_per_minute),
        config,
        db,
        key,
        redis,
        metrics,
    })
}

/// `PING` Redis; true when it answers.
pub async fn redis_ping(pool: &deadpool_redis::Pool) -> bool {
    let Ok(mut conn) = pool.get().await else {
        return false;
    };
    let pong: Result<String, _> = deadpool_redis::redis::cmd("PING")
        .query_async(&mut conn)
        .await;
    pong.is_ok()
}

async fn metrics_endpoint(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics::render(&state.metrics))
}

/// Run the server on `listener` until `shutdown` resolves (or the server fails).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + 'static,
) -> anyhow::Result<()> {
    let state = web::Data::new(build_state(config).await?);
    let addr = listener.local_addr()?;
    if state.config.socket_send_buffer > 0 {
        // Accepted sockets inherit SO_SNDBUF from the listener (and lose autotuning).
        socket2::SockRef::from(&listener)
            .set_send_buffer_size(state.config.socket_send_buffer)
            .context("RALLY_SOCKET_SEND_BUFFER: cannot set SO_SNDBUF")?;
    }
    let metrics_on_main = state.config.metrics_bind.is_none();
    let shutdown_timeout = state.config.shutdown_timeout.as_secs().max(1);

    let app_state = state.clone();
    let upgrades = crate::session::Upgrades::new(state.clone().into_inner());
    let sessions = upgrades.clone();
    let builder = actix_server::Server::build()
        .workers(state.config.http_workers)
        .shutdown_timeout(shutdown_timeout)
        .disable_signals();
    // Keep-alive connections close at once on a graceful stop (what actix-web's HttpServer
    // does), instead of holding the stop until the shutdown timeout.
    let graceful = builder.graceful_shutdown_signal();
    // actix-web's HttpServer settings, plus the upgrade hook: requests for `Upgrade: websocket`
    // go to the session transport with the raw connection (crate::session::upgrade) instead of
    // the App.
    let server = builder
        .listen("rally-http", listener, move || {
            let (json, path, query) = api::extractor_configs(app_state.config.max_body_bytes);
            let mut app = App::new()
                .app_data(app_state.clone())
                .app_data(json)
                .app_data(path)
                .app_data(query)
                .app_data(web::PayloadConfig::new(app_state.config.max_body_bytes))
                .app_data(api::body::BodyTimeout(app_state.config.http_body_timeout))
                .wrap(from_fn(api::forward::forward_tournament_actions))
                .wrap(from_fn(api::shape::json_errors))
                .wrap(from_fn(metrics::http_metrics))
                .wrap(from_fn(crate::telemetry::access::log_requests))
                .wrap(DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
                .into_utoipa_app()
                .configure(api::configure)
                .into_app()
                .route(
                    crate::session::WS_PATH,
                    web::get().to(crate::session::upgrade::plain_request),
                );
            if metrics_on_main {
                app = app.route("/metrics", web::get().to(metrics_endpoint));
            }
            let app = app.configure(client::configure);
            let signal = graceful.clone();
            let service = HttpService::build()
                .graceful_shutdown_signal(move || {
                    let signal = signal.clone();
                    async move { signal.notified().await }
                })
                .keep_alive(KeepAlive::default())
                .client_request_timeout(app_state.config.http_head_timeout)
                .client_disconnect_timeout(Duration::from_secs(1))
                .h1_allow_half_closed(true)
                .local_addr(addr)
                .upgrade(upgrades.factory())
                .finish(map_config(
                    app.into_factory()
                        .map_err(|err: actix_web::Error| err.error_response()),
                    |_| AppConfig::default(),
                ));
            // What `HttpService::tcp` does, with the stream wrapped so that the dispatcher's
            // own error answers come out in the JSON shape (api::wire).
            let head_timeout = app_state.config.http_head_timeout;
            fn_service(move |io: tokio::net::TcpStream| async move {
                // Snapshots are small frames written every tick: with Nagle's algorithm a
                // frame written while the previous one is unacknowledged waits for that ACK,
                // which a client's delayed ACK can hold back for up to 40 ms.
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                Ok::<_, actix_http::error::DispatchError>((
                    api::wire::HttpIo::new(io, head_timeout),
                    Protocol::Http1,
                    peer,
                ))
            })
            .and_then(service)
        })?
        .run();

    let metrics_server = match state.config.metrics_bind {
        None => None,
        Some(bind) => {
            let st = state.clone();
            Some(
                HttpServer::new(move || {
                    App::new()
                        .app_data(st.clone())
                        .route("/metrics", web::get().to(metrics_endpoint))
                })
                .workers(1)
                .bind(bind)
                .with_context(|| format!("RALLY_METRICS_BIND: cannot bind {bind}"))?
                .disable_signals()
                .run(),
            )
        }
    };

    if let Some(c) = state.engine.registry.cluster() {
        c.set_addr(
            state
                .config
                .cluster
                .instance_addr
                .clone()
                .unwrap_or_else(|| published_addr(addr)),
        );
        let host: crate::registry::Host = Arc::new(state.engine.clone());
        crate::registry::upkeep::start(host, c.clone()).await;
        tracing::info!(instance = %c.id(), "joined the cluster");
    }
    tracing::info!(%addr, "rally listening");
    spawn_upkeep(state.clone());
    crate::roles::spawn_watcher(state.clone());

    let handle = server.handle();
    let metrics_handle = metrics_server.as_ref().map(|s| s.handle());
    let engine = state.engine.clone();
    let drain_timeout = state.config.cluster.drain_timeout;
    let session_timeout = state.config.shutdown_timeout;
    actix_web::rt::spawn(async move {
        shutdown.await;
        if let Some(c) = engine.registry.cluster().cloned() {
            hand_over(&c, drain_timeout).await;
        }
        tracing::info!("shutting down: telling clients to reconnect, finishing in-flight requests");
        for s in engine.registry.all_sessions() {
            s.events.do_send(crate::room::messages::SessionEvent::Kick {
                code: crate::protocol::close::RESTART,
                error: crate::protocol::code::UNAVAILABLE,
                message: "server restarting; reconnect".into(),
            });
        }
        // WebSocket sessions are not actix-server connections (the upgrade hands the socket
        // over and ends): stop accepting, let the sessions finish their close handshake, then
        // stop the workers they run on.
        handle.pause().await;
        let left = sessions.drain(session_timeout).await;
        if left > 0 {
            tracing::warn!(
                sessions = left,
                "shutdown timeout: closing sessions still open"
            );
        }
        if let Some(h) = metrics_handle {
            h.stop(true).await;
        }
        handle.stop(true).await;
    });
    if let Some(m) = metrics_server {
        actix_web::rt::spawn(m);
    }
    server.await.context("server failed")?;
    state.engine.stop();
    tracing::info!("stopped");
    Ok(())
}

/// The address other instances use to reach this one when `RALLY_INSTANCE_ADDR` is unset: the
/// bound address, or — bound to all interfaces (`0.0.0.0`, `::`), which another host cannot
/// dial — the host name (a container's service name resolves to it) with the bound port.
fn published_addr(addr: std::net::SocketAddr) -> String {
    if !addr.ip().is_unspecified() {
        return addr.to_string();
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "127.0.0.1".into());
    format!("{host}:{}", addr.port())
}

/// Graceful hand-over (several instances): stop taking rooms, write each room's final
/// checkpoint and release its lease, offer the rooms to the least-loaded survivor (which adopts
/// them at once), leave the cluster. Bounded by `RALLY_DRAIN_TIMEOUT`; a room that did not make
/// it is adopted when its lease lapses.
async fn hand_over(c: &std::sync::Arc<Cluster>, drain: Duration) {
    c.set_draining();
    crate::registry::upkeep::heartbeat(c).await;
    let rooms = c.local().rooms();
    tracing::info!(rooms = rooms.len(), "draining: handing rooms over");
    let mut released = Vec::new();
    let work = async {
        for (h, _) in rooms {
            if let Some(port) = h.port() {
                if let Ok(true) = port.hand_over.send(crate::room::messages::HandOver).await {
                    released.push(h.id.clone());
                }
            }
        }
    };
    let _ = tokio::time::timeout(drain, work).await;
    if !released.is_empty() {
        let to = c.pick_instance().await;
        if &to != c.id() {
            c.offer_rooms(&to, released).await;
        }
    }
    // Tournaments: give their leases up; a survivor adopts each at its next scan (restoring it
    // from Postgres, which fences this instance's actor off).
    let held: Vec<crate::registry::Resource> = c.held();
    for r in held
        .into_iter()
        .filter(|r| r.kind != crate::registry::ResourceKind::Room)
    {
        c.release(&r).await;
    }
    crate::registry::upkeep::vanish(c).await;
}

/// How often the dependency gauges (`rally_dependency_up`) are refreshed.
pub const DEPENDENCY_CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// Probe the database and Redis and publish `rally_dependency_up{dependency}` (1 up, 0 down).
pub async fn check_dependencies(state: &AppState) -> (bool, Option<bool>) {
    let db_ok = state.db.ping().await.is_ok();
    ::metrics::gauge!("rally_dependency_up", "dependency" => "database")
        .set(f64::from(u8::from(db_ok)));
    let redis_ok = match &state.redis {
        None => None,
        Some(pool) => Some(redis_ping(pool).await),
    };
    if let Some(ok) = redis_ok {
        ::metrics::gauge!("rally_dependency_up", "dependency" => "redis")
            .set(f64::from(u8::from(ok)));
    }
    (db_ok, redis_ok)
}

/// Periodic housekeeping: dependency gauges, limiter state, expired revocations.
fn spawn_upkeep(state: web::Data<AppState>) {
    let probe = state.clone();
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(DEPENDENCY_CHECK_INTERVAL);
        loop {
            tick.tick().await;
            check_dependencies(&probe).await;
        }
    });
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            state.auth_limiter.purge();
            state.room_limiter.purge();
            if let Err(e) = state
                .db
                .run(crate::db::players::purge_expired_revocations)
                .await
            {
                tracing::warn!(error = ?e, "purging expired revocations failed");
            }
        }
    });
}
