//! The cluster's background tasks, all on the system arbiter:
//!
//! - **subscriber**: a dedicated pub/sub connection on this instance's channel, dispatching
//!   what arrives; on disconnect it reconnects (with back-off), re-subscribes and triggers an
//!   immediate re-announce;
//! - **publisher**: drains the bounded outgoing queue, one pipeline of `PUBLISH`es per batch;
//! - **writer**: applies queued directory writes in order;
//! - **upkeep**, every third of the lease TTL: heartbeat, lease renewal (one Lua call for all),
//!   re-announce of everything owned here (rebuilds a flushed Redis), watch of the routes of
//!   local sessions to rooms (and tournaments) on other instances, watch of the proxies of
//!   remote sessions, and adoption of orphaned resources.

use super::cluster::{Cluster, InstanceInfo, Outgoing, RECONNECT_BACKOFF};
use super::handle::Host;
use super::lease::{self, LeaseEvent, LeaseNotice, Resource, ResourceKind};
use super::messages::Detach;
use super::proxy::{Relay, Sever};
use super::remote::ROUTE_LINGER;
use super::routing::dispatch;
use super::wire::Body;
use crate::ids::{InstanceId, RoomId, TournamentId};
use deadpool_redis::redis;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Refresh a presence key unless a newer session has taken it over: KEYS[1] key, ARGV[1]
/// value `<instance>/<session>`, ARGV[2] ttl ms. Session ids are ULIDs: a larger one is a newer
/// connection (an older one left behind, e.g. by a write that reached Redis late, is replaced).
const PRESENCE_REFRESH_SCRIPT: &str = r#"
local cur = redis.call('GET', KEYS[1])
local function sid(v) return string.match(v, '/(.*)$') or '' end
if (not cur) or cur == ARGV[1] or sid(cur) < sid(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"#;

/// Something that adopts orphaned resources of one kind (tournaments register one).
pub type Adopter = Arc<dyn Fn(String) + Send + Sync>;

/// Start the background tasks; resolves once this instance listens on its channel (or after
/// one lease period if Redis is not answering), then announces it.
pub async fn start(host: Host, cluster: Arc<Cluster>) {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    actix::spawn(subscriber(host.clone(), cluster.clone(), ready_tx));
    if let Some(rx) = cluster.take_out() {
        actix::spawn(publisher(cluster.clone(), rx));
    }
    if let Some(rx) = cluster.take_ops() {
        actix::spawn(writer(cluster.clone(), rx));
    }
    let _ = tokio::time::timeout(cluster.config.lease_ttl, ready_rx).await;
    heartbeat(&cluster).await;
    actix::spawn(upkeep(host, cluster));
}

async fn subscriber(host: Host, cluster: Arc<Cluster>, ready: tokio::sync::oneshot::Sender<()>) {
    let mut ready = Some(ready);
    let channel = cluster.channel(cluster.id());
    loop {
        match redis::Client::open(cluster.url.as_str()) {
            Ok(client) => match client.get_async_pubsub().await {
                Ok(mut ps) => match ps.subscribe(&channel).await {
                    Ok(()) => {
                        match ready.take() {
                            Some(tx) => {
                                let _ = tx.send(());
                            }
                            None => {
                                tracing::info!("pub/sub reconnected; re-announcing");
                                cluster.reannounce.notify_one();
                            }
                        }
                        let mut stream = ps.into_on_message();
                        while let Some(msg) = stream.next().await {
                            if let Ok(text) = msg.get_payload::<String>() {
                                dispatch(&host, &cluster, &text);
                            }
                        }
                        tracing::warn!("pub/sub connection lost; reconnecting");
                    }
                    Err(e) => tracing::warn!(error = %e, "pub/sub subscribe failed"),
                },
                Err(e) => tracing::debug!(error = %e, "pub/sub connect failed"),
            },
            Err(e) => tracing::error!(error = %e, "bad Redis URL"),
        }
        tokio::time::sleep(RECONNECT_BACKOFF).await;
    }
}

async fn publisher(cluster: Arc<Cluster>, mut rx: tokio::sync::mpsc::Receiver<Outgoing>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < super::cluster::PUBLISH_BATCH {
            match rx.try_recv() {
                Ok(x) => batch.push(x),
                Err(_) => break,
            }
        }
        let mut p = redis::pipe();
        for m in &batch {
            p.cmd("PUBLISH").arg(cluster.channel(&m.to)).arg(&m.text);
        }
        match cluster.run_pipe::<Vec<i64>>("publish", &p).await {
            Ok(heard) => {
                metrics::counter!("rally_cross_instance_messages_total", "direction" => "out")
                    .increment(batch.len() as u64);
                for (m, n) in batch.iter().zip(heard) {
                    if let (Some(corr), 0) = (m.corr, n) {
                        cluster.unheard(corr);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, n = batch.len(), "publish failed; dropped"),
        }
    }
}

async fn writer(
    cluster: Arc<Cluster>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<super::cluster::Op>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(x) => batch.push(x),
                Err(_) => break,
            }
        }
        cluster.apply_ops(batch).await;
    }
}

/// Publish the heartbeat (load, rooms started, address) with the lease TTL. When the previous
/// one is older than the lease, this instance's presence had expired (it was paused, or cut off
/// from Redis): the owners of rooms its sessions play in may have dropped them, so it asks them
/// which routes they still carry ([`check_routes`]).
pub async fn heartbeat(cluster: &Arc<Cluster>) {
    let info = InstanceInfo {
        id: cluster.id().clone(),
        addr: cluster.addr(),
        rooms: cluster.local.room_count(),
        draining: cluster.draining(),
        created: cluster.rooms_created(),
    };
    let Ok(json) = serde_json::to_string(&info) else {
        return;
    };
    let mut c = redis::cmd("SET");
    c.arg(cluster.key(&format!("inst:{}", cluster.id())))
        .arg(json)
        .arg("PX")
        .arg(cluster.ttl_ms());
    metrics::gauge!("rally_instance_rooms").set(info.rooms as f64);
    if cluster.run::<()>("heartbeat", &c).await.is_err() {
        return;
    }
    let previous = cluster.last_beat.lock().replace(Instant::now());
    if previous.is_some_and(|t| t.elapsed() > cluster.config.lease_ttl) {
        tracing::warn!(
            gap_ms = previous.map_or(0, |t| t.elapsed().as_millis() as u64),
            "this instance's presence had expired; checking its sessions' routes"
        );
        check_routes(cluster).await;
    }
}

/// Ask the owner of every room a local session plays in whether it still carries the session;
/// each one that does not answers with a `RouteLost` and the session is told to reconnect.
async fn check_routes(cluster: &Arc<Cluster>) {
    let mut by_owner: HashMap<InstanceId, Vec<(String, RoomId)>> = HashMap::new();
    for (sid, r) in cluster.routes.lock().iter().filter(|(_, r)| r.active()) {
        by_owner
            .entry(r.owner.clone())
            .or_default()
            .push((sid.clone(), r.room.clone()));
    }
    for (owner, routes) in by_owner {
        cluster.publish(&owner, Body::CheckRoutes { routes }).await;
    }
}

/// Remove the heartbeat (shutdown).
pub async fn vanish(cluster: &Arc<Cluster>) {
    let mut c = redis::cmd("DEL");
    c.arg(cluster.key(&format!("inst:{}", cluster.id())));
    let _ = cluster.run::<()>("heartbeat", &c).await;
}

async fn upkeep(host: Host, cluster: Arc<Cluster>) {
    let mut tick = tokio::time::interval(cluster.config.renew_every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cluster.reannounce.notified() => {}
        }
        heartbeat(&cluster).await;
        renew(&cluster).await;
        reannounce(&cluster).await;
        watch_routes(&cluster).await;
        watch_subscriptions(&cluster).await;
        watch_proxies(&cluster).await;
        if !cluster.draining() {
            adopt_orphans(&host, &cluster).await;
        }
    }
}

/// Renew every held lease in one script call; tell holders about losses and re-creations.
pub async fn renew(cluster: &Arc<Cluster>) {
    let held: Vec<Resource> = cluster.leases.lock().keys().cloned().collect();
    if held.is_empty() {
        return;
    }
    let mut c = redis::cmd("EVAL");
    c.arg(lease::RENEW_SCRIPT).arg(held.len());
    for r in &held {
        c.arg(cluster.lease_key(r));
    }
    c.arg(cluster.id().as_str()).arg(cluster.ttl_ms());
    let Ok(statuses) = cluster.run::<Vec<i64>>("lease_renew", &c).await else {
        // Redis unreachable: keep running; fencing refuses our writes if someone else has
        // taken over by the time it answers again.
        return;
    };
    for (r, status) in held.into_iter().zip(statuses) {
        let event = match status {
            1 => {
                metrics::counter!("rally_lease_renewals_total").increment(1);
                continue;
            }
            2 => {
                metrics::counter!("rally_lease_renewals_total").increment(1);
                LeaseEvent::Reacquired
            }
            _ => {
                metrics::counter!("rally_lease_losses_total").increment(1);
                LeaseEvent::Lost
            }
        };
        let holder = if event == LeaseEvent::Lost {
            cluster.leases.lock().remove(&r).flatten()
        } else {
            cluster.leases.lock().get(&r).cloned().flatten()
        };
        tracing::warn!(kind = r.kind.as_str(), id = %r.id, ?event, "lease changed hands");
        if let Some(h) = holder {
            h.do_send(LeaseNotice { resource: r, event });
        }
    }
}

/// Re-write everything owned here: room records (via the writer), seats, presence.
async fn reannounce(cluster: &Arc<Cluster>) {
    for (h, _) in cluster.local.rooms() {
        cluster.announce_room(&h.id);
    }
    let ttl3 = cluster.ttl_ms() * 3;
    let mut p = redis::pipe();
    let mut n = 0;
    for (player, room) in cluster.local.player_rooms() {
        p.cmd("SET")
            .arg(cluster.key(&format!("proom:{player}")))
            .arg(room.as_str())
            .arg("PX")
            .arg(ttl3)
            .ignore();
        n += 1;
    }
    for (player, session) in cluster.local.session_ids() {
        p.cmd("EVAL")
            .arg(PRESENCE_REFRESH_SCRIPT)
            .arg(1)
            .arg(cluster.key(&format!("presence:{player}")))
            .arg(format!("{}/{session}", cluster.id()))
            .arg(ttl3)
            .ignore();
        n += 1;
    }
    if n > 0 {
        let _ = cluster.run_pipe::<()>("presence", &p).await;
    }
}

/// Local sessions' routes to rooms elsewhere: when the owner changed (or the room has had no
/// owner for two rounds), the route is lost: the session reconnects — `welcome.room` then
/// leads it back to the room on its new owner. Ended routes are dropped after their linger.
async fn watch_routes(cluster: &Arc<Cluster>) {
    let rooms: HashMap<RoomId, InstanceId> = {
        let mut g = cluster.routes.lock();
        g.retain(|_, r| r.ended.is_none_or(|t| t.elapsed() < ROUTE_LINGER));
        g.values()
            .filter(|r| r.active())
            .map(|r| (r.room.clone(), r.owner.clone()))
            .collect()
    };
    if rooms.is_empty() {
        return;
    }
    let mut suspect: Vec<RoomId> = Vec::new();
    let mut fine: Vec<RoomId> = Vec::new();
    for (room, owner) in rooms {
        match cluster.owner_checked(&Resource::room(&room)).await {
            Ok(Some(o)) if o == owner => fine.push(room),
            Ok(Some(o)) => cluster.room_moved(&room, &o),
            Ok(None) => suspect.push(room),
            // Redis unreachable: nothing can be concluded; frames resume when it is back.
            Err(_) => return,
        }
    }
    let mut lost: Vec<(String, RoomId)> = Vec::new();
    {
        let mut g = cluster.routes.lock();
        for (sid, r) in g.iter_mut().filter(|(_, r)| r.active()) {
            if fine.contains(&r.room) {
                r.suspect = 0;
            } else if suspect.contains(&r.room) {
                r.suspect = r.suspect.saturating_add(1);
                if r.suspect >= 2 {
                    lost.push((sid.clone(), r.room.clone()));
                }
            }
        }
    }
    for (sid, room) in lost {
        cluster.route_lost(&sid, &room);
    }
}

/// Local sessions' subscriptions to tournaments elsewhere: when the tournament's owner changed
/// (it was adopted after its owner died), subscribe again on the new owner; the session
/// receives the view as a `state` event and the live events from there on.
async fn watch_subscriptions(cluster: &Arc<Cluster>) {
    let subs: Vec<((String, TournamentId), InstanceId)> = cluster
        .subs
        .lock()
        .iter()
        .map(|(k, o)| (k.clone(), o.clone()))
        .collect();
    for ((sid, t), owner) in subs {
        let now = match cluster
            .owner_checked(&Resource::tournament(t.as_str()))
            .await
        {
            Ok(Some(o)) if o != owner => o,
            Ok(_) => continue,
            Err(_) => return,
        };
        if cluster.local.session_by_id(&sid).is_none() {
            cluster.subs.lock().remove(&(sid, t));
            continue;
        }
        tracing::info!(tournament = %t, "tournament moved; subscribing again on its new owner");
        cluster
            .subs
            .lock()
            .insert((sid.clone(), t.clone()), now.clone());
        cluster
            .publish(
                &now,
                Body::Subscribe {
                    tournament: t,
                    session: sid,
                    corr: None,
                },
            )
            .await;
    }
}

/// Proxies of sessions on other instances: when the session's instance vanished (no heartbeat
/// for two rounds), the room detaches the session as it would a dropped local connection (it
/// pauses, the reconnect grace runs) and the proxy tells the session's instance that the route
/// is lost (delivered when it is back); proxies of rooms or tournaments no longer here go too.
async fn watch_proxies(cluster: &Arc<Cluster>) {
    let targets: Vec<InstanceId> = {
        let mut t: Vec<InstanceId> = cluster
            .proxies
            .lock()
            .values()
            .map(|p| p.to.clone())
            .collect();
        t.sort();
        t.dedup();
        t
    };
    if targets.is_empty() {
        return;
    }
    let mut m = redis::cmd("MGET");
    for t in &targets {
        m.arg(cluster.key(&format!("inst:{t}")));
    }
    let Ok(beats) = cluster
        .run::<Vec<Option<String>>>("directory_read", &m)
        .await
    else {
        return;
    };
    let gone: Vec<InstanceId> = targets
        .into_iter()
        .zip(beats)
        .filter(|(_, b)| b.is_none())
        .map(|(t, _)| t)
        .collect();
    let mut dead = Vec::new();
    let mut orphaned = Vec::new();
    {
        let mut g = cluster.proxies.lock();
        for (key, p) in g.iter_mut() {
            if gone.contains(&p.to) {
                p.suspect = p.suspect.saturating_add(1);
            } else {
                p.suspect = 0;
            }
            let here = match &key.relay {
                Relay::Room(r) => cluster.local.room(r).is_some(),
                Relay::Tournament(t) => cluster.local.tournament(t).is_some(),
            };
            if !here && !p.released {
                orphaned.push(p.addr.clone());
            }
        }
        g.retain(|key, p| {
            let go = p.suspect >= 2;
            if go {
                dead.push((key.clone(), p.clone()));
            }
            !go
        });
    }
    for addr in orphaned {
        addr.do_send(Sever);
    }
    for (key, p) in dead {
        if let (Relay::Room(room), Some(player)) = (&key.relay, &p.player) {
            tracing::info!(%room, "a remote session's instance vanished; detaching it");
            if let Some(r) = cluster.local.room(room) {
                r.send(Detach {
                    player: player.clone(),
                    session_id: key.session.clone(),
                });
            }
        }
        p.addr.do_send(Sever);
    }
}

/// Claim resources whose owner vanished.
async fn adopt_orphans(host: &Host, cluster: &Arc<Cluster>) {
    for id in cluster.orphans(ResourceKind::Room).await {
        if let Some(r) = RoomId::parse(&id) {
            host.adopt(r).await;
        }
    }
    let adopters: Vec<(ResourceKind, Adopter)> = cluster.adopters.lock().clone();
    for (kind, adopt) in adopters {
        for id in cluster.orphans(kind).await {
            adopt(id);
        }
    }
}
