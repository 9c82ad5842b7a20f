"""Name tables the world generator draws from: people, agencies, clients, regions.

Each person name comes with the ASCII form its e-mail address is built from. Some names are unicode
(accents, Cyrillic, Greek, CJK, Arabic, emoji) and a few start with `=`, `+`, `-` or `@`: real TikTok users
choose their own display names, so anything downstream (CSV exports, spreadsheets) must treat them as data.
"""

from __future__ import annotations

FIRST_NAMES: tuple[tuple[str, str], ...] = (
    ("Olivia", "olivia"), ("Liam", "liam"), ("Emma", "emma"), ("Noah", "noah"), ("Ava", "ava"),
    ("Lucas", "lucas"), ("Sophia", "sophia"), ("Mateo", "mateo"), ("Isabella", "isabella"),
    ("Ethan", "ethan"), ("Mia", "mia"), ("James", "james"), ("Amelia", "amelia"), ("Oliver", "oliver"),
    ("Harper", "harper"), ("Elijah", "elijah"), ("Zoë", "zoe"), ("José", "jose"), ("Łukasz", "lukasz"),
    ("Søren", "soren"), ("Chloé", "chloe"), ("Björn", "bjorn"), ("Ayşe", "ayse"), ("François", "francois"),
    ("Małgorzata", "malgorzata"), ("Renée", "renee"), ("Jürgen", "jurgen"), ("Inés", "ines"),
    ("Siobhán", "siobhan"), ("Ngọc", "ngoc"), ("Aigerim", "aigerim"), ("Thandiwe", "thandiwe"),
    ("Priya", "priya"), ("Arjun", "arjun"), ("Kenji", "kenji"), ("Yuki", "yuki"), ("Fatima", "fatima"),
    ("Omar", "omar"), ("Chiara", "chiara"), ("Mateus", "mateus"), ("Anaïs", "anais"), ("Dagný", "dagny"),
    ("Kwame", "kwame"), ("Leilani", "leilani"), ("Rafael", "rafael"), ("Ingrid", "ingrid"),
    ("Tomás", "tomas"), ("Hana", "hana"), ("Nikolai", "nikolai"), ("Camila", "camila"),
)

LAST_NAMES: tuple[tuple[str, str], ...] = (
    ("Smith", "smith"), ("García", "garcia"), ("Müller", "muller"), ("Rossi", "rossi"), ("Silva", "silva"),
    ("Nowak", "nowak"), ("Dubois", "dubois"), ("Johansson", "johansson"), ("Yılmaz", "yilmaz"),
    ("Kowalski", "kowalski"), ("Nguyễn", "nguyen"), ("Tanaka", "tanaka"), ("Kim", "kim"), ("Patel", "patel"),
    ("O'Brien", "obrien"), ("Fernández", "fernandez"), ("Schröder", "schroder"), ("Novák", "novak"),
    ("Andersen", "andersen"), ("Costa", "costa"), ("Brown", "brown"), ("Wilson", "wilson"),
    ("Mbeki", "mbeki"), ("Haddad", "haddad"), ("Ivanova", "ivanova"), ("Lefèvre", "lefevre"),
    ("Sørensen", "sorensen"), ("Çelik", "celik"), ("Walker", "walker"), ("Okafor", "okafor"),
    ("Byrne", "byrne"), ("de la Cruz", "delacruz"), ("van Dijk", "vandijk"), ("Łęcka", "lecka"),
    ("Moreau", "moreau"), ("Herrera", "herrera"), ("Sato", "sato"), ("Chen", "chen"), ("Singh", "singh"),
    ("Bianchi", "bianchi"),
)

# Whole names in other scripts or with emoji, used for a small share of members.
WHOLE_NAMES: tuple[tuple[str, str], ...] = (
    ("王芳", "wang.fang"), ("佐藤 健", "sato.ken"), ("김민준", "kim.minjun"), ("李娜", "li.na"),
    ("Αλέξανδρος Παπαδόπουλος", "alexandros.papadopoulos"), ("Дмитрий Иванов", "dmitry.ivanov"),
    ("محمد علي", "mohamed.ali"), ("Nguyễn Thị Lan", "lan.nguyen"), ("Priya ✨", "priya.sparkle"),
    ("Sam 🚀 Growth", "sam.growth"), ("Анна Смирнова", "anna.smirnova"), ("שרה כהן", "sarah.cohen"),
)

# Display names starting with a spreadsheet formula character, as real users may pick them.
SPECIAL_NAMES: tuple[tuple[str, str], ...] = (
    ("=SUM(A1:A9) Marta", "marta.sum"),
    ("+44 Growth Desk", "growth.desk"),
    ("-Lena-", "lena.dash"),
    ("@jay_ads", "jay.ads"),
    ('=HYPERLINK("https://evil.example","Open")', "hyper.link"),
    ("+Tom Baker", "tom.baker"),
    ("-1 Rafa", "rafa.minus"),
    ("@creative.lab", "creative.lab"),
)

PERSONAL_DOMAINS: tuple[str, ...] = ("gmail.com", "outlook.com", "yahoo.com")

# (display name, slug, company suffix, registered_area, currency, timezone)
AGENCIES: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("Brightline Media", "brightline", "Ltd", "GB", "GBP", "Europe/London"),
    ("Nordlicht Média", "nordlicht", "GmbH", "DE", "EUR", "Europe/Berlin"),
    ("Agência Sol & Mar", "solemar", "Ltda.", "BR", "BRL", "America/Sao_Paulo"),
    ("Kōbō Creative Tokyo", "kobo-creative", "K.K.", "JP", "JPY", "Asia/Tokyo"),
    ("Zebra Performance", "zebra-performance", "LLC", "US", "USD", "America/New_York"),
    ("Ünal Dijital Ajans", "unal-dijital", "A.Ş.", "TR", "TRY", "Europe/Istanbul"),
    ("Maple & Finch Digital", "maple-finch", "Inc.", "CA", "CAD", "America/Toronto"),
    ("Ласточка Маркетинг", "lastochka", "OOO", "KZ", "KZT", "Asia/Almaty"),
    ("Côte Sud Publicité", "cote-sud", "SAS", "FR", "EUR", "Europe/Paris"),
    ("Lumen Growth Partners", "lumen-growth", "Pte. Ltd.", "SG", "SGD", "Asia/Singapore"),
    ("北斗数字营销", "beidou-digital", "Limited", "HK", "HKD", "Asia/Hong_Kong"),
    ("Fjord & Field Studio", "fjord-field", "AS", "NO", "NOK", "Europe/Oslo"),
    ("Señal Norte Agencia", "senal-norte", "S.L.", "ES", "EUR", "Europe/Madrid"),
    ("Kiwi Reach Collective", "kiwi-reach", "Ltd", "NZ", "NZD", "Pacific/Auckland"),
    ("Ámbar Social", "ambar-social", "S.A. de C.V.", "MX", "MXN", "America/Mexico_City"),
    ("Saffron Lane Media", "saffron-lane", "Pvt. Ltd.", "IN", "INR", "Asia/Kolkata"),
)

# Stems and kinds for agency names beyond the hand-written ones (large worlds).
AGENCY_STEMS: tuple[tuple[str, str], ...] = (
    ("Northwind", "northwind"), ("Bluepeak", "bluepeak"), ("Ōkami", "okami"), ("Copperleaf", "copperleaf"),
    ("Vértice", "vertice"), ("Hélio", "helio"), ("Tidewater", "tidewater"), ("Skylark", "skylark"),
    ("Mosaïque", "mosaique"), ("Granite", "granite"), ("Polaris", "polaris"), ("Çınar", "cinar"),
    ("Redwood", "redwood"), ("Aurora", "aurora"), ("Saltmarsh", "saltmarsh"), ("Quill", "quill"),
)
AGENCY_KINDS: tuple[tuple[str, str], ...] = (
    ("Media", "media"), ("Digital", "digital"), ("Creative", "creative"), ("Performance", "performance"),
    ("Social", "social"), ("Growth", "growth"), ("Studio", "studio"), ("Partners", "partners"),
)
REGIONS: tuple[tuple[str, str, str], ...] = (
    ("US", "USD", "America/Chicago"), ("GB", "GBP", "Europe/London"), ("DE", "EUR", "Europe/Berlin"),
    ("BR", "BRL", "America/Sao_Paulo"), ("JP", "JPY", "Asia/Tokyo"), ("AU", "AUD", "Australia/Sydney"),
    ("FR", "EUR", "Europe/Paris"), ("SG", "SGD", "Asia/Singapore"),
)
COMPANY_SUFFIXES: tuple[str, ...] = ("Ltd", "LLC", "Inc.", "GmbH", "S.A.", "Pte. Ltd.")

CUSTOMER_ADVERTISERS: tuple[str, ...] = (
    "Acme US – Brand", "Acme US – Performance", "Acme Canada", "Acme UK & Ireland", "Acme DE – Outlet",
    "Acme Marketplace", "Acme Home & Garden", "Acme Kids",
)
CLIENT_BRANDS: tuple[str, ...] = (
    "Orbit Shoes", "Kettle & Co", "Vantage Bikes", "Nimbus Travel", "Lotus Beauty", "Atlas Foods",
    "Pixel Pets", "Harbor Coffee", "Everglow Skincare", "Summit Outdoor", "Café Lumière", "Tiny Tigers Toys",
)
