//! A dealer group seeded for a test.

use showroom_proto::contact::Language;
use showroom_proto::conversation::{DepartmentRef, Named, StartConversation, Vehicle};
use showroom_proto::lead::{Classification, Lead, LeadContact, LeadFile, LeadOrigin};
use showroom_rest::directory::setup::{self, NewAgent};
use showroom_store::sqlx::{self, PgPool};
use uuid::Uuid;

/// The password of every test agent.
pub const PASSWORD: &str = "correct horse battery staple";

/// One dealer group: a rooftop with Sales and Service, a website, and agents.
pub struct Tenant {
    /// The name in e-mail addresses and hosts.
    pub slug: String,
    /// The dealer group.
    pub group: Uuid,
    /// Its rooftop.
    pub rooftop: Uuid,
    /// Sales department.
    pub sales: Uuid,
    /// Service department.
    pub service: Uuid,
    /// Website id.
    pub website: Uuid,
    /// Its widget key.
    pub key: String,
    /// The origin the website allows.
    pub origin: String,
    /// Agents: (id, e-mail), Sales agents first, then one Service agent.
    pub agents: Vec<(Uuid, String)>,
}

impl Tenant {
    /// A `conversation.start` for a new visitor of the tenant's website, in Sales, with the
    /// shopper's name when given and nothing else.
    pub fn start_in_sales(&self, shopper_name: Option<String>) -> StartConversation {
        StartConversation {
            website_id: self.website,
            visitor_id: Uuid::new_v4(),
            department_id: Some(self.sales),
            shopper_name,
            variables: Default::default(),
            vehicle: None,
            language: Default::default(),
            page_url: None,
            client_ip: None,
            client_ip_source: None,
            form_id: None,
        }
    }

    /// Seeds a group named `name` with `sales_agents` Sales agents and one Service agent.
    pub async fn seed(pool: &PgPool, name: &str, sales_agents: usize) -> anyhow::Result<Tenant> {
        let slug: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_lowercase();
        let group = setup::group(pool, name).await?;
        // MFA off: the other tests (and the demo) sign managers and admins in with a password
        // alone; every other group gets the migration's default, `privileged` (the MFA tests
        // use one: libs/testkit/tests/e2e/mfa.rs).
        sqlx::query("UPDATE dealer_groups SET mfa_policy = 'off' WHERE id = $1")
            .bind(group)
            .execute(pool)
            .await?;
        let rooftop =
            setup::rooftop(pool, group, &format!("{name} Honda"), "America/Chicago").await?;
        let sales = setup::department(pool, group, rooftop, "Sales", Some("Front End"), 0).await?;
        let service =
            setup::department(pool, group, rooftop, "Service", Some("Back End"), 1).await?;
        let key = format!("key-{slug}");
        let origin = format!("https://www.{slug}.example");
        let website = setup::website(
            pool,
            group,
            rooftop,
            &format!("{slug}.example"),
            &key,
            std::slice::from_ref(&origin),
        )
        .await?;
        // Tests of routing start chats straight away; the Lead Gate's own tests turn it on.
        let no_gate = showroom_proto::bot::BotSettings {
            lead_gate: false,
            ..Default::default()
        };
        showroom_bot::settings::store(pool, group, website, &no_gate).await?;
        let mut agents = Vec::new();
        for i in 0..=sales_agents {
            let (dept, label) = if i < sales_agents {
                (sales, "sales")
            } else {
                (service, "service")
            };
            let email = format!("{label}{i}@{slug}.example");
            let id = setup::agent(
                pool,
                group,
                NewAgent {
                    email: &email,
                    password: PASSWORD,
                    first_name: &format!("Agent{i}"),
                    last_name: name,
                    role: "agent",
                    departments: &[dept],
                },
            )
            .await?;
            agents.push((id, email));
        }
        Ok(Tenant {
            slug,
            group,
            rooftop,
            sales,
            service,
            website,
            key,
            origin,
            agents,
        })
    }
}

impl Tenant {
    /// A lead of this tenant's rooftop as lead-capture publishes it (Maria Lopez, a used RAV4,
    /// a missed chat), for tests and benchmarks of what consumes lead events.
    pub fn sample_lead(&self, department: Option<(Uuid, &str)>) -> Lead {
        let now = chrono::Utc::now();
        Lead {
            id: Uuid::now_v7(),
            group_id: self.group,
            rooftop: Named {
                id: self.rooftop,
                name: format!("{} Honda", self.slug),
            },
            department: department.map(|(id, label)| DepartmentRef {
                id,
                label: label.into(),
            }),
            origin: LeadOrigin::MissedChat,
            contact: LeadContact {
                id: Uuid::now_v7(),
                first_name: "Maria".into(),
                last_name: "Lopez".into(),
                email: Some("maria.lopez@example.com".into()),
                phone: Some("+13125550123".into()),
                consent: None,
                language: Language::Es,
            },
            vehicle: Some(Vehicle {
                vin: Some("2T3P1RFV5MW123456".into()),
                stock_number: Some("U12345".into()),
                year: Some(2021),
                make: Some("Toyota".into()),
                model: Some("RAV4".into()),
                trim: None,
                price: Some(28_500),
                url: Some("https://www.example.com/used/rav4".into()),
            }),
            message: Some("Is it still available?".into()),
            conversation_id: Some(Uuid::now_v7()),
            transcript_url: Some("https://showroom.example/console#conversation=1".into()),
            form: Vec::new(),
            // A file sent in the chat (its name is text: escaped in the ADF).
            appointments: Vec::new(),
            files: vec![LeadFile {
                name: "trade-in <1>.png".into(),
                content_type: "image/png".into(),
                size: 2048,
                url: "https://showroom.example/api/v1/attachments/1".into(),
            }],
            payment: None,
            trade_in: None,
            classification: Classification::default(),
            sources: Vec::new(),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// Adds an agent (`role` agent, manager or admin) covering `departments`; answers its id
    /// and e-mail (`<local>@<slug>.example`, the test password).
    pub async fn add_agent(
        &self,
        pool: &PgPool,
        local: &str,
        role: &str,
        departments: &[Uuid],
    ) -> anyhow::Result<(Uuid, String)> {
        let email = format!("{local}@{}.example", self.slug);
        let id = setup::agent(
            pool,
            self.group,
            NewAgent {
                email: &email,
                password: PASSWORD,
                first_name: local,
                last_name: "Added",
                role,
                departments,
            },
        )
        .await?;
        Ok((id, email))
    }

    /// Gives `agent` of this group the `role` (`agent`, `rooftop_manager`, `manager`, `admin`)
    /// directly in the database, as a test's setup (the admin API's rules are tested on their
    /// own).
    pub async fn set_role(&self, pool: &PgPool, agent: Uuid, role: &str) -> anyhow::Result<()> {
        self.set_agent(pool, agent, Some(role), None).await
    }

    /// Sets how many chats `agent` of this group holds at once, as a test's setup.
    pub async fn set_max_chats(&self, pool: &PgPool, agent: Uuid, max: i32) -> anyhow::Result<()> {
        self.set_agent(pool, agent, None, Some(max)).await
    }

    async fn set_agent(
        &self,
        pool: &PgPool,
        agent: Uuid,
        role: Option<&str>,
        max_chats: Option<i32>,
    ) -> anyhow::Result<()> {
        let done = sqlx::query(
            "UPDATE agents SET role = coalesce($3, role), max_chats = coalesce($4, max_chats) \
             WHERE id = $1 AND group_id = $2",
        )
        .bind(agent)
        .bind(self.group)
        .bind(role)
        .bind(max_chats)
        .execute(pool)
        .await?;
        anyhow::ensure!(
            done.rows_affected() == 1,
            "no agent {agent} in {}",
            self.slug
        );
        Ok(())
    }
}

/// A throwaway Postgres of its own, migrated, with nothing else running: for tests of
/// statements and their plans, which a [`Tenant`] then seeds. Stops when the first is dropped.
pub async fn database() -> anyhow::Result<(showroom_localinfra::Postgres, PgPool)> {
    let pg = showroom_localinfra::Postgres::start(Default::default()).await?;
    let pool = showroom_store::connect(&pg.url, 2).await?;
    showroom_store::migrate(&pool).await?;
    Ok((pg, pool))
}
