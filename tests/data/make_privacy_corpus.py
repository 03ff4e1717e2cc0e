"""Writes privacy_corpus.jsonl: prompts with realistic (but made-up) secrets, and look-alikes without.

Run from the repository root: ``python tests/data/make_privacy_corpus.py``. Deterministic (seeded),
so the committed corpus can be regenerated exactly. Every key here is random; none is real.
Each row: ``text``, ``secret`` (bool), ``kind`` (what it is), ``value`` (the secret, for positives).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import uuid
from pathlib import Path

rng = random.Random(20261122)
ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def aws_key() -> str:
    return "AKIA" + rand(16, UPPER_DIGITS)


def aws_secret() -> str:
    return rand(40, ALNUM + "/+")


def github() -> str:
    return "ghp_" + rand(36)


def gitlab() -> str:
    return "glpat-" + rand(20, ALNUM + "_-")


def slack() -> str:
    return f"xoxb-{rng.randint(10**10, 10**11)}-{rng.randint(10**11, 10**12)}-{rand(24).lower()}"


def stripe() -> str:
    return "sk_live_" + rand(24)


def openai() -> str:
    return "sk-proj-" + rand(48, ALNUM + "_-")


def anthropic() -> str:
    return "sk-ant-api03-" + rand(93, ALNUM + "_-")


def google() -> str:
    return "AIza" + rand(35, ALNUM + "_-")


def hf() -> str:
    return "hf_" + rand(34)


def jwt() -> str:
    def seg(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return f"{seg({'alg': 'HS256', 'typ': 'JWT'})}.{seg({'sub': rand(8), 'iat': rng.randint(10**9, 2 * 10**9)})}." \
           f"{rand(43, ALNUM + '_-')}"


def password() -> str:
    return rand(6, string.ascii_letters) + rng.choice("!@#%^&*") + rand(5, string.digits + string.ascii_letters)


def sendgrid() -> str:
    return f"SG.{rand(22, ALNUM + '_-')}.{rand(43, ALNUM + '_-')}"


def npm() -> str:
    return "npm_" + rand(36)


def private_key() -> str:
    body = "\n".join(rand(64, ALNUM + "+/") for _ in range(8))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"


def twilio() -> str:
    return "SK" + rand(32, string.hexdigits.lower()[:16])


def azure() -> str:
    return rand(86, ALNUM + "+/") + "=="


POSITIVE = [
    ("aws-key", lambda k: f"Why does boto3 say access denied?\n```python\ns3 = boto3.client('s3', "
                          f"aws_access_key_id='{k}', region_name='eu-west-1')\n```", aws_key),
    ("aws-key", lambda k: f"My ~/.aws/credentials has\n[default]\naws_access_key_id = {k}\nIs that right?", aws_key),
    ("aws-secret-key", lambda k: f"export AWS_SECRET_ACCESS_KEY={k}\nHow do I make terraform pick this up?",
     aws_secret),
    ("github-token", lambda k: f"git push fails with 403. I set the remote to https://{k}@github.com/acme/app.git",
     github),
    ("github-token", lambda k: f"curl -H 'Authorization: token {k}' https://api.github.com/user returns 401, why?",
     github),
    ("gitlab-token", lambda k: f"In .gitlab-ci.yml I use PRIVATE_TOKEN: {k} but the job can't clone", gitlab),
    ("slack-token", lambda k: f"const slack = new WebClient('{k}');\nmessages are not posted, what's wrong?", slack),
    ("stripe-key", lambda k: f"stripe.api_key = \"{k}\"\ncharges fail with card_declined in prod", stripe),
    ("openai-key", lambda k: f"client = OpenAI(api_key=\"{k}\")\nI get a rate limit error immediately.", openai),
    ("openai-key", lambda k: f"OPENAI_API_KEY={k}\nOPENAI_BASE_URL=https://api.openai.com/v1\nwhy is this .env "
                             f"ignored by my app?", openai),
    ("anthropic-key", lambda k: f"headers = {{'x-api-key': '{k}', 'anthropic-version': '2023-06-01'}}", anthropic),
    ("google-api-key", lambda k: f"The Maps call https://maps.googleapis.com/maps/api/geocode/json?key={k} fails",
     google),
    ("huggingface-token", lambda k: f"huggingface-cli login --token {k} hangs on our CI runner", hf),
    ("jwt", lambda k: f"Decode this token and tell me why it's rejected: {k}", jwt),
    ("jwt", lambda k: f"Authorization: Bearer {k}\nThe API answers 401 for this header.", jwt),
    ("password", lambda k: f"DB_PASSWORD={k}\nDB_USER=app\nDB_HOST=db\nWhy can't docker-compose connect?", password),
    ("password", lambda k: f"conn = psycopg2.connect(host='db', user='admin', password='{k}')\nthis times out",
     password),
    ("password", lambda k: f"mysql -u root -p{k} -h 10.0.3.7 gives access denied", password),
    ("url-credentials", lambda k: f"DATABASE_URL=postgres://app:{k}@db.prod.acme.io:5432/orders\nmigrations fail",
     password),
    ("url-credentials", lambda k: f"client = MongoClient('mongodb+srv://svc:{k}@cluster0.mongodb.net/app')",
     password),
    ("url-credentials", lambda k: f"redis.from_url('redis://default:{k}@cache.internal:6379/0') drops connections",
     password),
    ("connection-string", lambda k: f"Server=tcp:acme.database.windows.net;Database=crm;User ID=svc;Password={k};"
                                    f"Encrypt=True;\nEF Core cannot open the connection.", password),
    ("sendgrid-key", lambda k: f"sg = SendGridAPIClient('{k}')\nemails bounce", sendgrid),
    ("npm-token", lambda k: f"My .npmrc:\n//registry.npmjs.org/:_authToken={k}\nnpm publish says 404", npm),
    ("private-key", lambda k: f"Why does ssh say invalid format for this key?\n{k}", private_key),
    ("twilio-key", lambda k: f"client = Client('{k}', auth_secret)\nSMS never arrives", twilio),
    ("azure-key", lambda k: f"DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey={k};"
                            f"EndpointSuffix=core.windows.net", azure),
    ("secret", lambda k: f"app.config['SECRET_KEY'] = '{k}'\nsessions get invalidated on every deploy", password),
    ("secret", lambda k: f"settings.py:\nSECRET_KEY = \"{k}\"\nDEBUG = False\nwhy does collectstatic fail?",
     lambda: rand(50, ALNUM + "!@#%^&*(-_=+)")),
    ("high-entropy", lambda k: f"The webhook signing key is {k} and signature checks fail", lambda: rand(32)),
    ("secret", lambda k: f"client_secret: {k}\nclient_id: web-portal\nkeycloak rejects the token exchange",
     lambda: rand(32)),
    ("env-secret", lambda k: f"Here is my .env:\nNODE_ENV=production\nSTRIPE_WEBHOOK_SECRET={k}\nPORT=3000",
     lambda: "whsec_" + rand(32)),
]

NEGATIVE = [
    "How do I store a password securely in Django? Should I use bcrypt or argon2?",
    "Write a function that checks whether a password has at least 8 characters and one digit.",
    "Set your key with `export OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxx` before running the script.",
    "The docs show aws_access_key_id = AKIAIOSFODNN7EXAMPLE; where do I put my own?",
    "api_key = os.environ['OPENAI_API_KEY']  # why is this None in cron?",
    "password = getpass.getpass()\nHow do I hide the input on Windows?",
    "Use `token = ${{ secrets.GITHUB_TOKEN }}` in the workflow, right?",
    "DATABASE_URL=postgres://user:password@localhost:5432/db is the example in the README; how do I change it?",
    "Replace <your-api-key> with the key from the dashboard.",
    "stripe.api_key = 'sk_test_...' — what goes here?",
    "The secret key must be at least 32 bytes; how do I generate one with openssl?",
    "What does `git log --oneline` mean?",
    "Explain JWT: header, payload and signature.",
    "How do I rotate AWS access keys without downtime?",
    "Our password policy requires 12 characters. Write a regex for it.",
    "Why does `ssh-keygen -t ed25519` ask for a passphrase?",
    "config.token = settings.API_TOKEN\nIs this thread-safe?",
    "token = request.headers.get('Authorization')",
    "PASSWORD = None  # set in production",
    "export GITHUB_TOKEN=<token>",
    "Set SECRET_KEY=changeme for local development only.",
    "Your password: ******** (hidden)",
    "The placeholder key is XXXX-XXXX-XXXX-XXXX.",
    "Call `client = OpenAI()` and it reads the key from the environment.",
    "How do I read a .env file in Node? I have PORT=3000 and NODE_ENV=development.",
    "What's the difference between authentication and authorization?",
    "Passwords are hashed with PBKDF2 and 600000 iterations; is that enough?",
    "Where does kubectl store credentials? In ~/.kube/config?",
    "secret = Secret(name='db', namespace='prod')  # kubernetes client object",
    "auth = HTTPBasicAuth(username, password)",
]


def negative_templates() -> list[str]:
    out = list(NEGATIVE)
    for _ in range(25):
        sha = hashlib.sha1(rand(12).encode()).hexdigest()
        out.append(rng.choice([
            f"git revert {sha} undid too much; how do I recover?",
            f"Commit {sha} broke the build, can you bisect with me?",
            f"The checksum sha256 is {hashlib.sha256(sha.encode()).hexdigest()}; how do I verify the download?",
        ]))
    for _ in range(20):
        u = str(uuid.UUID(int=rng.getrandbits(128)))
        out.append(rng.choice([
            f"Order {u} is missing from the report; write the SQL to find it.",
            f"request_id={u} shows up twice in the logs",
            f"Why does uuid.UUID('{u}').version return 4?",
        ]))
    for sentence in ["hello world, this is a test of the encoder", "the quick brown fox jumps over the lazy dog",
                     "user: alice, role: admin, team: payments", "my favourite language is python and rust",
                     "please decode me and tell me what I say", "token based auth explained for beginners",
                     "secret sauce recipe: tomatoes and basil", "password reset emails should expire fast",
                     "the api key goes in the header, not the url", "connection refused on port 5432 again"]:
        encoded = base64.b64encode(sentence.encode()).decode()
        out.append(rng.choice([f"What does this base64 say: {encoded}",
                               f"Decode the token {encoded} for me",
                               f"The auth header contains {encoded}; is that safe?"]))
    for _ in range(10):
        out.append(f"Tag image as registry.acme.io/web:{hashlib.md5(rand(5).encode()).hexdigest()[:12]} and push it")
    for _ in range(8):
        out.append(f"Integrity hash: sha512-{base64.b64encode(hashlib.sha512(rand(8).encode()).digest()).decode()}")
    return out


# -- formats from the public rules of secret scanners ------------------------------------------------------
# Token formats (prefixes, lengths, alphabets) as gitleaks' rules (cmd/generate/config/rules), detect-secrets'
# plugins and trufflehog's detectors define them; the values are random and the contexts are our own:
# how a developer pastes a config file, a shell command or a question. A second generator keeps the rows
# above unchanged.
rules_rng = random.Random(7321)
B32 = "abcdefghijklmnopqrstuvwxyz234567"
HEX = "0123456789abcdef"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


def g(n: int, alphabet: str = ALNUM) -> str:
    return "".join(rules_rng.choice(alphabet) for _ in range(n))


def gid() -> str:
    return str(uuid.UUID(int=rules_rng.getrandbits(128), version=4))


def gb64(n: int, alt: str = "+/") -> str:
    raw = bytes(rules_rng.getrandbits(8) for _ in range(n))
    return base64.b64encode(raw, altchars=alt.encode()).decode()


def human_password() -> str:
    parts = ["summer", "Dragon", "coffee", "Winter", "rocket", "Banana", "silver", "Monkey", "purple", "Shadow"]
    return rules_rng.choice(parts) + str(rules_rng.randint(1, 999)) + rules_rng.choice("!?#$%") + rules_rng.choice(parts)


# kind, value maker, contexts ({v} is the value)
RULE_FORMATS = [
    ("github-token", lambda: "ghu_" + g(36), ["GH_TOKEN={v} gh release create v1.2.0", "token for the app: {v}"]),
    ("github-token", lambda: "ghr_" + g(76), ["refresh_token={v}&grant_type=refresh_token", "stored {v} in keychain"]),
    ("github-token", lambda: "github_pat_" + g(22) + "_" + g(59),
     ["git remote set-url origin https://{v}@github.com/acme/infra.git", "- name: checkout\n  with:\n    token: {v}"]),
    ("gitlab-token", lambda: "gldt-" + g(20, ALNUM + "_-"), ["deploy token {v} for the registry", "GL_DEPLOY={v}"]),
    ("gitlab-token", lambda: "GR1348941" + g(20, ALNUM + "_-"),
     ["gitlab-runner register --registration-token {v}", "the runner reg token is {v}"]),
    ("gitlab-token", lambda: "glptt-" + g(40, HEX), ["curl -X POST -F token={v} -F ref=main https://gitlab.acme.io/api/v4/projects/7/trigger/pipeline", "trigger: {v}"]),
    ("slack-token", lambda: f"xapp-1-A{g(10, string.ascii_uppercase + string.digits)}-{rules_rng.randint(10**12, 10**13)}-{g(64, HEX)}",
     ["SLACK_APP_TOKEN={v} for socket mode", "App(token=bot_token, app_token='{v}')"]),
    ("slack-webhook", lambda: f"https://hooks.slack.com/services/T{g(10, string.ascii_uppercase + string.digits)}/B{g(10, string.ascii_uppercase + string.digits)}/{g(24)}",
     ["curl -X POST -d '{{\"text\":\"deploy done\"}}' {v}", "alerts go to {v} but nothing shows up"]),
    ("teams-webhook", lambda: f"https://acme.webhook.office.com/webhookb2/{gid()}@{gid()}/IncomingWebhook/{g(32, HEX)}/{gid()}",
     ["TEAMS_WEBHOOK_URL={v}", "Invoke-RestMethod -Method Post -Uri '{v}' -Body $json"]),
    ("discord-webhook", lambda: f"https://discordapp.com/api/webhooks/{rules_rng.randint(10**17, 10**18)}/{g(68, ALNUM + '_-')}",
     ["DISCORD_WEBHOOK={v}", "hook = Webhook.from_url('{v}', session=s)"]),
    ("google-chat-webhook", lambda: f"https://chat.googleapis.com/v1/spaces/AAAA{g(7)}/messages?key=AIza{g(35, ALNUM + '_-')}&token={g(43, ALNUM + '_-')}",
     ["our Google Chat alert webhook {v} returns 400", "GCHAT_URL={v}"]),
    ("azure-ad-secret", lambda: g(3, ALNUM) + str(rules_rng.randint(0, 9)) + "Q~" + g(34, ALNUM + "_~.-"),
     ["AZURE_CLIENT_SECRET={v}", "ClientSecretCredential(tenant, client_id, \"{v}\") fails with AADSTS7000215"]),
    ("azure-storage-key", lambda: gb64(64), ["az storage blob list --account-name acmedata --account-key {v}",
                                            "AZURE_STORAGE_KEY={v}"]),
    ("azure-sas", lambda: gb64(32).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"),
     ["SAS url: https://acme.blob.core.windows.net/backups?sp=racwdl&st=2024-05-01T10:00:00Z&se=2024-06-01T10:00:00Z&spr=https&sv=2022-11-02&sr=c&sig={v}",
      "azcopy copy ./dist 'https://web.blob.core.windows.net/$web?sv=2021-08-06&se=2030-01-01&sr=c&sp=rwl&sig={v}' --recursive"]),
    ("azure-devops-token", lambda: g(52, B32), ["ADO_PAT={v}\naz pipelines run --name build",
                                               "echo {v} | az devops login --organization https://dev.azure.com/contoso"]),
    ("azure-devops-token", lambda: g(76, ALNUM) + "AZDO" + g(4, ALNUM),
     ["SYSTEM_ACCESSTOKEN={v}", "pat for dev.azure.com: {v}"]),
    ("okta-token", lambda: "00" + g(40, ALNUM + "_-"), ["OKTA_API_TOKEN={v}", "Authorization: SSWS {v}"]),
    ("doppler-token", lambda: "dp.pt." + g(43), ["doppler configure set token {v}", "DOPPLER_TOKEN={v}"]),
    ("doppler-token", lambda: "dp.st.dev." + g(40), ["service token {v} can't read prd", "--token {v}"]),
    ("npm-token", lambda: "npm_" + g(36), ["npm config set //registry.npmjs.org/:_authToken {v}",
                                          "NODE_AUTH_TOKEN: {v}\nrun: npm publish"]),
    ("npm-token", lambda: "npm_" + g(36), ["I accidentally pasted {v} in a public issue", "is {v} a granular token?"]),
    ("stripe-key", lambda: "sk_live_" + g(99), ["const stripe = require('stripe')('{v}');", "STRIPE_SECRET={v}"]),
    ("stripe-webhook", lambda: "whsec_" + g(32), ["stripe listen prints {v}; which env var?", "endpointSecret = \"{v}\""]),
    ("shopify-token", lambda: rules_rng.choice(["shpat_", "shpca_", "shppa_", "shpss_"]) + g(32, HEX),
     ["SHOPIFY_ACCESS_TOKEN={v}", "session.accessToken = '{v}'"]),
    ("atlassian-token", lambda: "ATATT3" + g(186, ALNUM + "_-="), ["JIRA_API_TOKEN={v}", "confluence token: {v}"]),
    ("bitbucket-token", lambda: "ATBB" + g(32), ["app password ATBB is {v}? pipelines can't push",
                                                "BITBUCKET_APP_PASSWORD={v}"]),
    ("digitalocean-token", lambda: rules_rng.choice(["dop_v1_", "doo_v1_", "dor_v1_"]) + g(64, HEX),
     ["DIGITALOCEAN_ACCESS_TOKEN={v}", "provider \"digitalocean\" {{ token = \"{v}\" }}"]),
    ("databricks-token", lambda: "dapi" + g(32, HEX), ["databricks configure --token <<< {v}", "token = {v}"]),
    ("linear-key", lambda: "lin_api_" + g(40, string.ascii_lowercase + string.digits),
     ["new LinearClient({{ apiKey: '{v}' }})", "LINEAR_API_KEY={v}"]),
    ("notion-token", lambda: "ntn_" + g(11, string.digits) + g(35), ["NOTION_TOKEN={v}", "notion integration secret {v}"]),
    ("postman-key", lambda: f"PMAK-{g(24, HEX)}-{g(34, HEX)}", ["x-api-key: {v}", "POSTMAN_API_KEY={v}"]),
    ("grafana-token", lambda: "glc_" + gb64(48), ["GRAFANA_CLOUD_TOKEN={v}", "grafana cloud policy token {v}"]),
    ("grafana-token", lambda: f"glsa_{g(32)}_{g(8, HEX)}", ["Authorization: Bearer {v}", "sa token {v}"]),
    ("newrelic-key", lambda: "NRAK-" + g(27, string.ascii_uppercase + string.digits),
     ["newrelic: api_key {v}", "export NEW_RELIC_USER_KEY={v}"]),
    ("sentry-token", lambda: "sntryu_" + g(64, HEX), ["SENTRY_AUTH_TOKEN={v}", "sentry-cli --auth-token {v} upload"]),
    ("vault-token", lambda: "hvs." + g(95, ALNUM + "_-"), ["vault login {v}", "VAULT_TOKEN={v}"]),
    ("terraform-token", lambda: f"{g(14, string.ascii_lowercase + string.digits)}.atlasv1.{g(67, string.ascii_lowercase + string.digits + '-_=')}",
     ["credentials \"app.terraform.io\" {{\n  token = \"{v}\"\n}}", "TFE_TOKEN={v}"]),
    ("pypi-token", lambda: "pypi-AgEIcHlwaS5vcmc" + g(70, ALNUM + "_-"),
     ["[pypi]\n  username = __token__\n  password = {v}", "TWINE_PASSWORD={v}"]),
    ("age-key", lambda: "AGE-SECRET-KEY-1" + g(58, BECH32), ["key.txt: {v}", "SOPS_AGE_KEY={v}"]),
    ("groq-key", lambda: "gsk_" + g(52), ["Groq(api_key=\"{v}\")", "groq key {v} rate limited"]),
    ("replicate-token", lambda: "r8_" + g(37), ["replicate.Client(api_token='{v}')", "token {v}"]),
    ("perplexity-key", lambda: "pplx-" + g(48), ["PERPLEXITY_API_KEY={v}", "OpenAI(api_key='{v}', base_url=PPLX)"]),
    ("xai-key", lambda: "xai-" + g(80), ["XAI_API_KEY={v}", "grok key {v}"]),
    ("openai-key", lambda: "sk-" + g(20) + "T3BlbkFJ" + g(20), ["openai.api_key = \"{v}\"", "OPENAI_KEY={v}"]),
    ("openai-key", lambda: "sk-svcacct-" + g(74, ALNUM + "_-"), ["OPENAI_API_KEY={v}", "service account key {v}"]),
    ("anthropic-key", lambda: "sk-ant-admin01-" + g(93, ALNUM + "_-") + "AA", ["ANTHROPIC_ADMIN_KEY={v}", "admin key {v}"]),
    ("google-oauth-secret", lambda: "GOCSPX-" + g(28, ALNUM + "_-"),
     ["\"client_secret\": \"{v}\"", "GOOGLE_CLIENT_SECRET={v}"]),
    ("google-oauth-token", lambda: "ya29." + g(120, ALNUM + "_-"), ["Authorization: Bearer {v}", "access_token={v}"]),
    ("google-oauth-token", lambda: "1//0" + g(60, ALNUM + "_-"), ["\"refresh_token\": \"{v}\"", "refresh {v}"]),
    ("square-token", lambda: "sq0atp-" + g(22, ALNUM + "_-"), ["SQUARE_TOKEN={v}", "square access token {v}"]),
    ("square-token", lambda: "sq0csp-" + g(43, ALNUM + "_-"), ["application secret {v}", "SQ_SECRET={v}"]),
    ("braintree-token", lambda: f"access_token$production${g(16, string.ascii_lowercase + string.digits)}${g(32, HEX)}",
     ["BraintreeGateway(access_token='{v}')", "BT_TOKEN={v}"]),
    ("shippo-token", lambda: "shippo_live_" + g(40, HEX), ["SHIPPO_KEY={v}", "shippo.config.api_key = '{v}'"]),
    ("twilio-key", lambda: "SK" + g(32, HEX), ["TWILIO_API_KEY={v}", "Client('{v}', secret, account_sid)"]),
    ("mailgun-key", lambda: "key-" + g(32, HEX), ["MAILGUN_API_KEY={v}", "auth=(\"api\", \"{v}\")"]),
    ("mailchimp-key", lambda: g(32, HEX) + "-us" + str(rules_rng.randint(1, 21)), ["MAILCHIMP_KEY={v}",
                                                                                 "client.set_config({{'api_key': '{v}'}})"]),
    ("brevo-key", lambda: f"xkeysib-{g(64, HEX)}-{g(16)}", ["BREVO_API_KEY={v}", "api-key: {v}"]),
    ("heroku-key", lambda: "HRKU-" + g(60, ALNUM + "_-"), ["HEROKU_API_KEY={v}", "heroku auth token is {v}"]),
    ("flyio-token", lambda: "fo1_" + g(43, ALNUM + "_-"), ["FLY_API_TOKEN={v}", "flyctl deploy --access-token {v}"]),
    ("netlify-token", lambda: "nfp_" + g(36), ["NETLIFY_AUTH_TOKEN={v}", "netlify deploy --auth {v}"]),
    ("supabase-token", lambda: "sbp_" + g(40, HEX), ["SUPABASE_ACCESS_TOKEN={v}", "supabase login --token {v}"]),
    ("alibaba-key", lambda: "LTAI" + g(20, string.ascii_lowercase + string.digits), ["ALIBABA_CLOUD_ACCESS_KEY_ID={v}",
                                                                                     "AccessKeyId: {v}"]),
    ("dynatrace-token", lambda: f"dt0c01.{g(24, string.ascii_uppercase + string.digits)}.{g(64, string.ascii_uppercase + string.digits)}",
     ["DT_API_TOKEN={v}", "Api-Token {v}"]),
    ("contentful-token", lambda: "CFPAT-" + g(43, ALNUM + "_-"), ["CONTENTFUL_MANAGEMENT_TOKEN={v}", "cma token {v}"]),
    ("pulumi-token", lambda: "pul-" + g(40, HEX), ["PULUMI_ACCESS_TOKEN={v}", "pulumi login with {v}"]),
    ("rubygems-key", lambda: "rubygems_" + g(48, HEX), ["GEM_HOST_API_KEY={v}", ":rubygems_api_key: {v}"]),
    ("planetscale-token", lambda: "pscale_tkn_" + g(43, ALNUM + "_-"), ["PLANETSCALE_SERVICE_TOKEN={v}", "token {v}"]),
    ("easypost-key", lambda: "EZAK" + g(54, string.ascii_lowercase + string.digits), ["EASYPOST_API_KEY={v}",
                                                                                    "EasyPostClient('{v}')"]),
    ("facebook-token", lambda: "EAAC" + g(140), ["FB_ACCESS_TOKEN={v}", "graph.facebook.com/me?access_token={v}"]),
    ("twitter-token", lambda: "AAAAAAAAAAAAAAAAAAAAA" + g(30) + "%3D" + g(50), ["TWITTER_BEARER={v}", "bearer {v}"]),
    ("launchdarkly-key", lambda: "sdk-" + gid(), ["LD_SDK_KEY={v}", "LDClient('{v}')"]),
    ("private-key", lambda: "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(gb64(52) for _ in range(4))
     + "\n-----END OPENSSH PRIVATE KEY-----", ["id_ed25519:\n{v}", "ssh-add says bad permissions:\n{v}"]),
    ("private-key", lambda: "-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + "\n".join(gb64(48) for _ in range(3))
     + "\n-----END ENCRYPTED PRIVATE KEY-----", ["openssl pkcs8 output:\n{v}", "{v}\nhow do I decrypt this?"]),
    ("jwt", lambda: f"eyJhbGciOiJSUzI1NiJ9.{gb64(60, '-_').rstrip('=')}.{gb64(64, '-_').rstrip('=')}",
     ["X-Auth: {v}", "curl -b 'access_token={v}' https://app.acme.io/api/me"]),
    ("url-credentials", human_password, ["REDIS_URL=redis://:{v}@10.0.0.12:6379", "amqp://rabbit:{v}@mq:5672/vhost fails"]),
    ("url-credentials", human_password, ["git clone https://jdoe:{v}@git.acme.io/team/repo.git",
                                        "proxy = http://corp\\jdoe:{v}@proxy.acme.io:8080"]),
    ("password", human_password, ["the root password on the NAS is {v}", "I changed my pw to {v} and now sudo fails"]),
    ("password", human_password, ["login: admin\npassword: {v}\nthe router UI rejects it",
                                 "our vpn passphrase is {v} — can you write an expect script"]),
    ("password", human_password, ["machine smtp.gmail.com login me@gmail.com password {v}",
                                 "machine nexus.acme.io\nlogin ci\npassword {v}"]),
    ("password", human_password, ["sshpass -p {v} scp backup.tar root@nas:/mnt",
                                 "SSHPASS={v} sshpass -e ssh pi@raspberrypi.local"]),
    ("password", human_password, ["<Password>{v}</Password> in the FileZilla sitemanager.xml",
                                 "<add key=\"DbPassword\" value=\"{v}\" /> in web.config"]),
    ("password", human_password, ["psql \"host=db user=app password={v} dbname=orders sslmode=require\"",
                                 "PGPASSWORD={v} pg_dump -h db orders > dump.sql"]),
    ("password", human_password, ["10.0.0.9 ansible_user=root ansible_password={v}", "ansible_become_password: {v}"]),
    ("password", human_password, ["db.acme.internal:5432:*:replicator:{v}", "*:*:*:postgres:{v}"]),
    ("password", human_password, ["keytool -importcert -storepass {v} -keystore truststore.jks",
                                 "openssl pkcs12 -export -passout pass:{v} -out cert.p12"]),
    ("password", human_password, ["net use Z: \\\\fs01\\share /user:ACME\\svc {v}",
                                 "sqlcmd -S sql01 -U sa -P {v} -Q \"select 1\""]),
    ("password", human_password, ["define('AUTH_PASSWORD', '{v}'); in config.php",
                                 "$db = new PDO('mysql:host=db;dbname=app', 'app', '{v}');"]),
    ("password", human_password, ["resource \"aws_db_instance\" \"main\" {{\n  password = \"{v}\"\n}}",
                                 "variable \"admin_password\" {{\n  default = \"{v}\"\n  sensitive = true\n}}"]),
    ("password", human_password, ["jenkins login is ops / {v} on the old box", "creds for staging: qa_user:{v}"]),
    ("password", human_password, ["my pgpass line db01:5432:billing:billing:{v} is ignored",
                                 "mysqli_connect('localhost', 'wp', '{v}', 'wordpress')"]),
    ("password", human_password, ["htpasswd -cb /etc/nginx/.htpasswd ops {v}", "echo {v} | sudo -S systemctl restart nginx"]),
    ("password", human_password, ["$secure = ConvertTo-SecureString \"{v}\" -AsPlainText -Force",
                                 "rabbitmqctl change_password guest {v}"]),
    ("password", human_password, ["ssh into the box with root, password {v}", "try username test and password {v}"]),
    ("secret-key-file", lambda: g(32, HEX), ["cat config/credentials/production.key\n{v}",
                                            "secret.key contains {v} - is that 128 bits?"]),
    ("discord-token", lambda: "N" + g(25, ALNUM + "_-") + "." + g(6, ALNUM + "_-") + "." + g(38, ALNUM + "_-"),
     ["DISCORD_TOKEN={v}", "bot.run(\"{v}\")"]),
    ("k8s-secret", lambda: base64.b64encode(human_password().encode()).decode(),
     ["kind: Secret\ndata:\n  DB_PASSWORD: {v}", "kubectl get secret db -o yaml shows\ndata:\n  password: {v}"]),
    ("docker-auth", lambda: base64.b64encode(f"deploy:{human_password()}".encode()).decode(),
     ["{{\"auths\":{{\"ghcr.io\":{{\"auth\":\"{v}\"}}}}}}", "dockerconfigjson auth: {v}"]),
    ("basic-auth", lambda: base64.b64encode(f"api:{human_password()}".encode()).decode(),
     ["Authorization: Basic {v}", "requests.get(url, headers={{'Authorization': 'Basic {v}'}})"]),
    ("bearer-token", lambda: g(28, ALNUM + "-._~"), ["-H 'Authorization: Bearer {v}'", "Authorization: Bearer {v}"]),
    ("high-entropy", lambda: g(40), ["the api token they gave me is {v}", "my access key: {v}"]),
]

LOOKALIKES = [
    lambda: "-----BEGIN CERTIFICATE-----\n" + "\n".join(gb64(48) for _ in range(4)) + "\n-----END CERTIFICATE-----\n"
            "curl: (60) SSL certificate problem: self-signed certificate in certificate chain",
    lambda: "fullchain.pem starts with\n-----BEGIN CERTIFICATE-----\n" + gb64(48) + "\n" + gb64(48) + "\n...",
    lambda: "-----BEGIN PUBLIC KEY-----\n" + gb64(48) + "\n" + gb64(24) + "\n-----END PUBLIC KEY-----\nverify the JWT with this",
    lambda: "-----BEGIN CERTIFICATE REQUEST-----\n" + gb64(48) + "\n" + gb64(40) + "\n-----END CERTIFICATE REQUEST-----",
    lambda: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + g(43) + " me@laptop is in authorized_keys, still Permission denied",
    lambda: "deploy key:\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ" + gb64(200) + " deploy@ci",
    lambda: "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBB" + gb64(60) + " host key changed?",
    lambda: "<img alt=\"logo\" src=\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAA" + gb64(120) + "\"> is blurry",
    lambda: "favicon: data:image/x-icon;base64,AAABAAEAEBAAAAEAIABoBAAAFgAAACgAAAAQ" + gb64(60),
    lambda: ".icon {{ background-image: url('data:image/svg+xml;base64," + gb64(90) + "'); }}",
    lambda: "GOOGLE_OAUTH_CLIENT_ID=" + str(rules_rng.randint(10**11, 10**12)) + "-" + g(32, string.ascii_lowercase + string.digits)
            + ".apps.googleusercontent.com",
    lambda: "client_id: Iv1." + g(16, HEX) + "  # GitHub App, public",
    lambda: "AZURE_CLIENT_ID=" + gid() + "\nAZURE_TENANT_ID=" + gid(),
    lambda: "cache key " + g(32, HEX) + " was evicted early",
    lambda: "the primary key of the row is " + g(24, HEX),
    lambda: "memcached key user:" + g(40, HEX) + " not found",
    lambda: "partition key " + gid() + " is hot in DynamoDB",
    lambda: "foreign key constraint fails for id " + g(32, HEX),
    lambda: "S3 key photos/" + g(32, HEX) + ".jpg gives AccessDenied",
    lambda: "Co-Authored-By: Continue <noreply@continue.dev>",
    lambda: "Co-authored-by: " + rules_rng.choice(["Ana", "Raj", "Lee"]) + " <" + g(6).lower() + "@users.noreply.github.com>",
    lambda: "Signed-off-by: Jane Developer <jane@acme.io>\nReviewed-by: Bob <bob@acme.io>",
    lambda: "Authored-by: bot\nAuthorization header missing in the request logs",
    lambda: "{{\"access_token\": \"<redacted>\", \"token_type\": \"Bearer\", \"expires_in\": 3599}}",
    lambda: "token_type: Bearer\nexpires_in: 3600",
    lambda: "auth: Bearer\nheader_name: Authorization",
    lambda: "stripe publishable key: pk_live_" + g(24) + " (safe to ship in the browser)",
    lambda: "mapboxgl.accessToken = 'pk.eyJ1IjoiYWNtZSIsImEiOi" + g(24) + "';",
    lambda: "go.sum:\ngithub.com/stretchr/testify v1.8.4 h1:" + gb64(32) + "\ngithub.com/stretchr/testify v1.8.4/go.mod h1:" + gb64(32),
    lambda: "\"integrity\": \"sha384-" + gb64(48) + "\"",
    lambda: "<script src=\"https://cdn.example.com/lib.js\" integrity=\"sha384-" + gb64(48) + "\" crossorigin></script>",
    lambda: "docker pull nginx@sha256:" + g(64, HEX),
    lambda: "RUN echo '" + g(64, HEX) + "  node.tar.xz' | sha256sum -c -",
    lambda: "git checkout " + g(40, HEX) + " -- src/auth/token.py",
    lambda: "uses: actions/setup-node@" + g(40, HEX) + " # v4 (pinned for security)",
    lambda: "ETag: \"" + g(32, HEX) + "\" and the cache key changes every deploy",
    lambda: "request-id: " + gid() + "\nx-amzn-trace-id: Root=1-" + g(8, HEX) + "-" + g(24, HEX),
    lambda: "ssh fingerprint SHA256:" + gb64(32).rstrip("=") + " for github.com, is that right?",
    lambda: "gpg: key " + g(16, HEX.upper()) + ": public key \"Release Signing <rel@acme.io>\" imported",
    lambda: "arn:aws:kms:eu-west-1:" + str(rules_rng.randint(10**11, 10**12)) + ":key/" + gid(),
    lambda: "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    lambda: "export API_KEY=\"${{API_KEY:?set it first}}\"",
    lambda: "password: \"{{{{ .Values.db.password }}}}\"",
    lambda: "password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  " + g(64, HEX),
    lambda: "DB_PASSWORD=\nDB_USER=app  # fill in the password locally",
    lambda: "secretKeyRef:\n  name: db-credentials\n  key: password",
    lambda: "valueFrom:\n  secretKeyRef:\n    name: api\n    key: token",
    lambda: "token = jwt.encode(payload, settings.SECRET_KEY, algorithm='HS256')",
    lambda: "const token = await getAccessTokenSilently();",
    lambda: "password_reset_token_expiry = timedelta(hours=1)",
    lambda: "How do I stop git from asking for my password every push?",
    lambda: "the key insight is that " + g(12, string.ascii_lowercase) + " caches tokens per tenant",
    lambda: "Use a 256-bit key; openssl rand -hex 32 prints one.",
    lambda: "the API key header is X-API-Key, not Authorization",
    lambda: "keyboard shortcut to toggle the secret panel is Ctrl+Shift+K",
    lambda: "hash = \"" + g(64, HEX) + "\"  # sha256 of the empty config",
    lambda: "bundle.js?v=" + g(20, HEX) + " is cached forever",
    lambda: "commit_sha=" + g(40, HEX) + " build_id=" + str(rules_rng.randint(10**6, 10**7)),
    lambda: "{{\"kid\": \"" + g(40, HEX) + "\", \"alg\": \"RS256\", \"use\": \"sig\"}}  # JWKS entry",
    lambda: "x-ratelimit-remaining-tokens: 149000\nx-ratelimit-reset-tokens: 6ms",
    lambda: "max_tokens=" + str(rules_rng.randint(100, 8000)) + ", temperature=0.2, top_p=0.9",
    lambda: "the password field is required; password reset links expire after 1 hour",
    lambda: "login with your SSO account; username and password are not used any more",
    lambda: "user: alice, role: admin, team: payments-eu",
    lambda: "define('WP_DEBUG', true); define('DB_HOST', 'localhost');",
    lambda: "variable \"db_password\" {{\n  type      = string\n  sensitive = true\n}}",
    lambda: "htpasswd -c /etc/nginx/.htpasswd ops   # asks for the password twice",
    lambda: "echo $PASSWORD | docker login --password-stdin ghcr.io -u ci",
    lambda: "ssh-keygen -t ed25519 -f ~/.ssh/id_deploy && cat ~/.ssh/id_deploy.pub",
    lambda: "openssl genrsa -out server.key 4096  # then chmod 600 server.key",
    lambda: "git log --format=%H -1 prints " + g(40, HEX) + " for the release tag",
    lambda: "Co-Authored-By: Continue <noreply@continue.dev>\nCo-Authored-By: Claude <noreply@anthropic.com>",
]


def rules_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for kind, make, contexts in RULE_FORMATS:
        for context in contexts:
            value = make()
            text = context.replace("{{", "{").replace("}}", "}").replace("{v}", value)
            rows.append({"text": text, "secret": True, "kind": kind, "value": value})
    for make in LOOKALIKES:
        rows.append({"text": make().replace("{{", "{").replace("}}", "}"), "secret": False, "kind": "lookalike"})
    return rows


def main() -> None:
    rows = []
    for i in range(4):
        for kind, template, make in POSITIVE:
            value = make()
            rows.append({"text": template(value), "secret": True, "kind": kind, "value": value})
    for text in negative_templates():
        rows.append({"text": text, "secret": False, "kind": "none"})
    rows += rules_rows()
    path = Path(__file__).with_name("privacy_corpus.jsonl")
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    pos = sum(r["secret"] for r in rows)
    print(f"{path}: {pos} with secrets, {len(rows) - pos} without")


if __name__ == "__main__":
    main()
