//! The demo dealer group the dev launcher seeds: two rooftops, Sales and Service at each, a
//! website with widget key `demo`, and a few agents.

use sqlx::PgPool;
use uuid::Uuid;

use crate::directory::setup::{self, NewAgent};

/// The password of every demo agent.
pub const DEMO_PASSWORD: &str = "showroom-demo";

/// Demo logins: (e-mail, name, role, what they cover).
pub const DEMO_AGENTS: &[(&str, &str, &str, &str)] = &[
    (
        "ann@demo.showroom.test",
        "Ann Larson",
        "agent",
        "Sales at both rooftops (a BDC agent)",
    ),
    (
        "david@demo.showroom.test",
        "David Cowan",
        "agent",
        "Sales at Showroom Honda",
    ),
    (
        "katie@demo.showroom.test",
        "Katie Ungar",
        "agent",
        "Service at both rooftops",
    ),
    (
        "maria@demo.showroom.test",
        "Maria Lopez",
        "manager",
        "everything",
    ),
    (
        "sam@demo.showroom.test",
        "Sam Patel",
        "admin",
        "the group's admin (integrations, other admins)",
    ),
];

/// Seeds the demo group unless a website with key `demo` exists. Returns the group id when it
/// seeded. `origins` are the allowed origins of the demo website.
pub async fn seed(pool: &PgPool, origins: &[String]) -> anyhow::Result<Option<Uuid>> {
    let exists: Option<(Uuid,)> =
        sqlx::query_as("SELECT group_id FROM websites WHERE widget_key = 'demo'")
            .fetch_optional(pool)
            .await?;
    if let Some((group,)) = exists {
        sqlx::query("UPDATE websites SET allowed_origins = $1 WHERE widget_key = 'demo'")
            .bind(origins)
            .execute(pool)
            .await?;
        // A demo seeded before the admin login existed gets it now.
        let (email, name, role, _) = DEMO_AGENTS[4];
        let known: Option<(Uuid,)> =
            sqlx::query_as("SELECT id FROM agents WHERE group_id = $1 AND lower(email) = $2")
                .bind(group)
                .bind(email)
                .fetch_optional(pool)
                .await?;
        if known.is_none() {
            add(pool, group, email, name, role, &[]).await?;
        }
        return Ok(None);
    }
    let group = setup::group(pool, "Showroom Motors Group").await?;
    // MFA off: the other tests (and the demo) sign managers and admins in with a password
    // alone; every other group gets the migration's default, `privileged` (the MFA tests
    // use one: libs/testkit/tests/e2e/mfa.rs).
    sqlx::query("UPDATE dealer_groups SET mfa_policy = 'off' WHERE id = $1")
        .bind(group)
        .execute(pool)
        .await?;
    let honda = setup::rooftop(pool, group, "Showroom Honda", "America/Chicago").await?;
    let toyota = setup::rooftop(pool, group, "Showroom Toyota", "America/New_York").await?;
    let honda_sales = setup::department(pool, group, honda, "Sales", Some("Front End"), 0).await?;
    let honda_service =
        setup::department(pool, group, honda, "Service", Some("Back End"), 1).await?;
    let toyota_sales =
        setup::department(pool, group, toyota, "Sales", Some("Front End"), 0).await?;
    let toyota_service =
        setup::department(pool, group, toyota, "Service", Some("Back End"), 1).await?;
    setup::website(pool, group, honda, "showroomhonda.example", "demo", origins).await?;
    let covers: [&[Uuid]; 5] = [
        &[honda_sales, toyota_sales],
        &[honda_sales],
        &[honda_service, toyota_service],
        &[honda_sales, honda_service, toyota_sales, toyota_service],
        &[],
    ];
    for ((email, name, role, _), departments) in DEMO_AGENTS.iter().zip(covers) {
        add(pool, group, email, name, role, departments).await?;
    }
    Ok(Some(group))
}

/// Adds one demo login.
async fn add(
    pool: &PgPool,
    group: Uuid,
    email: &str,
    name: &str,
    role: &str,
    departments: &[Uuid],
) -> anyhow::Result<()> {
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    setup::agent(
        pool,
        group,
        NewAgent {
            email,
            password: DEMO_PASSWORD,
            first_name: first,
            last_name: last,
            role,
            departments,
        },
    )
    .await?;
    Ok(())
}
