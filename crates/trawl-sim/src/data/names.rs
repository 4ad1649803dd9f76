//! Word lists the generated records are made of: people, companies, rooms, devices.
//!
//! Kept apart from the templates so the templates read like the vendor's records.

pub(super) const FIRST: &[&str] = &[
    "ana", "bo", "chen", "dmitri", "elif", "farah", "gustavo", "hana", "ivan", "jia", "kofi",
    "lena", "mateo", "nadia", "oscar", "priya", "quinn", "rosa", "sven", "tomas", "uma", "viktor",
    "wen", "ximena", "yusuf", "zoe",
];

pub(super) const LAST: &[&str] = &[
    "abbott", "baker", "castillo", "dubois", "eriksen", "fischer", "garcia", "haddad", "ito",
    "jensen", "kowalski", "larsen", "moreau", "nakamura", "okafor", "petrov", "quintero", "rossi",
    "silva", "tanaka", "ueda", "varga", "weber", "xu", "yilmaz", "zhang",
];

pub(super) const COMPANIES: &[(&str, &str)] = &[
    ("Zylker", "zylker.com"),
    ("Northwind Traders", "northwind.io"),
    ("Contoso", "contoso.example"),
    ("Acme Corp", "acme-corp.com"),
    ("Globex", "globex.net"),
    ("Initech", "initech.org"),
    ("Umbrella Health", "umbrella-health.co"),
    ("Hooli", "hooli.xyz"),
    ("Vandelay Industries", "vandelay.com"),
    ("Wayne Enterprises", "wayne-ent.com"),
    ("Stark Logistics", "starklog.de"),
    ("Tyrell Systems", "tyrell.systems"),
];

pub(super) const EXTERNAL_DOMAINS: &[&str] = &["gmail.com", "outlook.com", "proton.me"];

pub(super) const ROLES: &[&str] = &[
    "Admin",
    "Member",
    "Help Desk &amp; Support",
    "Billing Admin",
    "Owner&#39;s Delegate",
    "Auditor",
];

pub(super) const TOPICS: &[&str] = &[
    "Q3 Planning &amp; Review",
    "All Hands",
    "Sales &lt;EMEA&gt; Sync",
    "Design Crit",
    "Customer &quot;Onboarding&quot; Call",
    "Weekly 1:1",
];

pub(super) const GROUPS: &[&str] = &["Sales", "Engineering", "R&amp;D", "Support", "Finance"];

pub(super) const ROOMS: &[&str] = &[
    "Boardroom &amp; Lounge",
    "Huddle 3B",
    "Aurora",
    "Training Room",
];

pub(super) const DEVICES: &[&str] = &[
    "Polycom VVX 450",
    "Yealink T54W",
    "Cisco 8851",
    "Poly CCX 600",
];

pub(super) const QUEUES: &[&str] = &[
    "Support",
    "Sales Inbound",
    "Billing &amp; Accounts",
    "Front Desk",
];

pub(super) const CITIES: &[&str] = &["San Jose", "London", "Berlin", "Sydney", "Toronto"];

pub(super) const AREA_CODES: &[&str] = &["415", "408", "212", "646", "312", "617"];
