"""Writes privacy_heldout.jsonl: the held-out part of the secret-detection corpus.

Written before the detector was tuned against the development corpus (privacy_corpus.jsonl) and
never tuned on: its figures say how the detector does on prompts it was not shaped by. The
templates are pastes as developers make them (config files, shell history, chat prose, stack
traces); the values are random (seeded), none is real. Each row: ``text``, ``secret`` (bool),
``kind``, ``value`` (for positives: the whole secret, which redaction must remove entirely).

Run from the repository root: ``python tests/data/make_privacy_heldout.py``.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from pathlib import Path

rng = random.Random(424242)
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B32 = "abcdefghijklmnopqrstuvwxyz234567"


def r(n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def pw() -> str:
    """A password a person picks: words, digits and a symbol."""
    words = ["Tiger", "maple", "Orbit", "quartz", "Falcon", "velvet", "Nimbus", "cobalt", "Pepper", "harbor"]
    return rng.choice(words) + rng.choice("!@#$%&*") + str(rng.randint(10, 9999)) + rng.choice(words).lower()


def uid() -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def b64(n: int) -> str:
    return base64.b64encode(bytes(rng.getrandbits(8) for _ in range(n))).decode()


def b64url(n: int) -> str:
    return base64.urlsafe_b64encode(bytes(rng.getrandbits(8) for _ in range(n))).decode().rstrip("=")


# (kind, template with {v}, value maker)
POSITIVE = [
    ("password", "our staging db password is {v} if you need to poke at it", pw),
    ("password", "fyi the admin login for the grafana box is admin / {v}", pw),
    ("password", "I set the postgres superuser pw to {v} but psql still says auth failed, why?", pw),
    ("url-credentials", "celery can't connect, broker_url = 'redis://:{v}@cache.internal:6379/0'", pw),
    ("url-credentials", "MONGO_URI=mongodb+srv://appuser:{v}@cluster0.x7kq2.mongodb.net/prod?retryWrites=true", pw),
    ("url-credentials", "ftp upload fails: curl -T build.zip ftp://deploy:{v}@files.acme-corp.net/releases/", pw),
    ("password", "my ~/.netrc:\nmachine api.heroku.com\n  login dev@acme.io\n  password {v}\n\nwhy is it ignored?",
     lambda: uid()),
    ("password", "this works but is it safe? sshpass -p '{v}' ssh deploy@10.0.3.17 'sudo systemctl restart app'", pw),
    ("password", "maven settings.xml:\n<server>\n  <id>nexus</id>\n  <username>ci</username>\n  <password>{v}</password>\n"
                 "</server>\nmvn deploy still gets 401", pw),
    ("azure-sas", "download with https://acmestore.blob.core.windows.net/exports/q3.csv?sv=2022-11-02&ss=b&srt=o&sp=r"
                  "&se=2025-01-31T00:00:00Z&st=2024-01-01T00:00:00Z&spr=https&sig={v} returns 403",
     lambda: b64(32).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")),
    ("azure-devops-token", "export AZURE_DEVOPS_EXT_PAT={v}\naz devops project list --org https://dev.azure.com/acme",
     lambda: r(52, B32)),
    ("azure-devops-token", "git clone https://build:{v}@dev.azure.com/acme/platform/_git/api fails with TF401019",
     lambda: r(52, B32)),
    ("teams-webhook", "post to our channel: requests.post('https://acmecorp.webhook.office.com/webhookb2/{v}', json=card)",
     lambda: f"{uid()}@{uid()}/IncomingWebhook/{r(32, HEX)}/{uid()}"),
    ("okta-token", "curl -H 'Authorization: SSWS {v}' https://acme.okta.com/api/v1/users?limit=25",
     lambda: "00" + r(40, ALNUM + "-_")),
    ("okta-token", "okta:\n  client:\n    orgUrl: https://acme.okta.com\n    token: {v}", lambda: "00" + r(40, ALNUM + "-_")),
    ("doppler-token", "DOPPLER_TOKEN={v} doppler run -- npm start", lambda: "dp.st.prd." + r(40)),
    ("doppler-token", "the service token is {v}, can I scope it to one config?", lambda: "dp.pt." + r(43)),
    ("npm-token", "I published with npm_{v} and now the package shows my name, how do I rotate it", lambda: r(36)),
    ("npm-token", ".npmrc\n//registry.npmjs.org/:_authToken=npm_{v}\nalways-auth=true", lambda: r(36)),
    ("bearer-token", "curl https://api.acme.io/v2/orders -H \"Authorization: Bearer {v}\" returns 500",
     lambda: r(40, ALNUM + "._-")),
    ("bearer-token", "fetch(url, {{ headers: {{ Authorization: 'Bearer {v}' }} }})  // why CORS error?",
     lambda: r(32, ALNUM)),
    ("github-token", "gh auth status shows token gho_{v} but push still asks for a password", lambda: r(36)),
    ("github-token", "GITHUB_TOKEN=ghs_{v} in the runner env, is that the installation token?", lambda: r(36)),
    ("slack-token", "const slack = new WebClient('xoxp-{v}');", lambda: f"{rng.randint(10**11, 10**12)}-"
                                                                        f"{rng.randint(10**11, 10**12)}-{rng.randint(10**11, 10**12)}-{r(32, HEX)}"),
    ("stripe-key", "stripe.api_key = \"rk_live_{v}\"  # restricted key, still fails on refunds", lambda: r(24)),
    ("stripe-webhook", "endpoint_secret = 'whsec_{v}'\nevent = stripe.Webhook.construct_event(payload, sig, endpoint_secret)",
     lambda: r(32)),
    ("twilio-token", "TWILIO_ACCOUNT_SID=AC{sid}\nTWILIO_AUTH_TOKEN={v}".replace("{sid}", r(32, HEX)), lambda: r(32, HEX)),
    ("sendgrid-key", "sg = SendGridAPIClient('SG.{v}')", lambda: f"{r(22, ALNUM + '_-')}.{r(43, ALNUM + '_-')}"),
    ("mailgun-key", "requests.post(MAILGUN_URL, auth=('api', 'key-{v}'), data=msg)", lambda: r(32, HEX)),
    ("shopify-token", "X-Shopify-Access-Token: shpat_{v}", lambda: r(32, HEX)),
    ("atlassian-token", "jira = JIRA(server, basic_auth=('me@acme.io', 'ATATT3xFfGF0{v}'))",
     lambda: r(170, ALNUM + "_-=") + "=" + r(8, HEX.upper())),
    ("gitlab-token", "gitlab-runner register --token glrt-{v} --url https://gitlab.acme.io", lambda: r(20, ALNUM + "_-")),
    ("digitalocean-token", "doctl auth init -t dop_v1_{v}", lambda: r(64, HEX)),
    ("databricks-token", "DATABRICKS_HOST=https://adb-123.azuredatabricks.net\nDATABRICKS_TOKEN=dapi{v}",
     lambda: r(32, HEX)),
    ("linear-key", "linear api key lin_api_{v} gives 401 from the graphql endpoint", lambda: r(40)),
    ("notion-token", "notion = Client(auth=\"secret_{v}\")", lambda: r(43)),
    ("postman-key", "newman run coll.json --postman-api-key PMAK-{v}", lambda: f"{r(24, HEX)}-{r(34, HEX)}"),
    ("discord-webhook", "webhook = 'https://discord.com/api/webhooks/{v}'",
     lambda: f"{rng.randint(10**17, 10**18)}/{r(68, ALNUM + '_-')}"),
    ("telegram-token", "bot = telebot.TeleBot(\"{v}\")", lambda: f"{rng.randint(10**9, 10**10)}:AA{r(33, ALNUM + '_-')}"),
    ("jwt", "Cookie: session={v}; path=/", lambda: f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{b64url(48)}.{b64url(32)}"),
    ("private-key", "is this key format ok for paramiko?\n{v}",
     lambda: "-----BEGIN EC PRIVATE KEY-----\n" + "\n".join(b64(48) for _ in range(3)) + "\n-----END EC PRIVATE KEY-----"),
    ("private-key", "putty key file:\n{v}",
     lambda: "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\nPublic-Lines: 2\n" + b64(48) + "\n"
             + b64(20) + "\nPrivate-Lines: 1\n" + b64(48) + "\nPrivate-MAC: " + r(64, HEX)),
    ("private-key", "gpg export:\n{v}",
     lambda: "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n" + "\n".join(b64(48) for _ in range(4))
             + "\n-----END PGP PRIVATE KEY BLOCK-----"),
    ("k8s-secret", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  password: {v}\n",
     lambda: base64.b64encode(pw().encode()).decode()),
    ("kubeconfig-token", "users:\n- name: ci\n  user:\n    token: {v}",
     lambda: f"eyJhbGciOiJSUzI1NiIsImtpZCI6Ik{r(20)}.{b64url(180)}.{b64url(200)}"),
    ("docker-auth", "~/.docker/config.json\n{{\"auths\": {{\"registry.acme.io\": {{\"auth\": \"{v}\"}}}}}}",
     lambda: base64.b64encode(f"ci:{pw()}".encode()).decode()),
    ("connection-string", "jdbc:mysql://db.acme.internal:3306/orders?user=root&password={v}&useSSL=false", pw),
    ("connection-string", "\"ConnectionStrings\": {{ \"Default\": \"Server=sql01;Database=Shop;User Id=sa;Password={v};\" }}",
     pw),
    ("password", "wp-config.php\ndefine( 'DB_PASSWORD', '{v}' );", pw),
    ("django-secret", "settings.py\nSECRET_KEY = 'django-insecure-{v}'",
     lambda: r(50, string.ascii_lowercase + string.digits + "!@#$%^&*(-_=+)")),
    ("rails-key", "config/master.key is {v}, should it be in the repo?", lambda: r(32, HEX)),
    ("password", "application.properties\nspring.datasource.url=jdbc:postgresql://db:5432/app\n"
                 "spring.datasource.username=app\nspring.datasource.password={v}", pw),
    ("password", "variable \"db_password\" {{\n  type    = string\n  default = \"{v}\"\n}}", pw),
    ("gcp-service-account", "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"acme-prod\",\n  \"private_key\": "
                            "\"{v}\",\n  \"client_email\": \"ci@acme-prod.iam.gserviceaccount.com\"\n}}",
     lambda: "-----BEGIN PRIVATE KEY-----\\n" + b64(60) + "\\n" + b64(60) + "\\n-----END PRIVATE KEY-----\\n"),
    ("aws-secret-key", "[default]\naws_access_key_id = AKIA{k}\naws_secret_access_key = {v}".replace("{k}", r(16, string.ascii_uppercase + string.digits)),
     lambda: r(40, ALNUM + "/+")),
    ("aws-key", "boto3.Session(aws_access_key_id='{v}', aws_secret_access_key=os.environ['AWS_SECRET'])",
     lambda: "AKIA" + r(16, string.ascii_uppercase + "234567")),
    ("anthropic-key", "client = anthropic.Anthropic(api_key=\"sk-ant-api03-{v}\")", lambda: r(93, ALNUM + "_-") + "AA"),
    ("openai-key", "openai.api_key = 'sk-{v}'  # old style key", lambda: r(48)),
    ("huggingface-token", "huggingface-cli login --token hf_{v}", lambda: r(34)),
    ("groq-key", "GROQ_API_KEY=gsk_{v}", lambda: r(52)),
    ("replicate-token", "export REPLICATE_API_TOKEN=r8_{v}", lambda: r(37)),
    ("cloudflare-token", "wrangler whoami fails; CLOUDFLARE_API_TOKEN={v}", lambda: r(40, ALNUM + "_-")),
    ("vault-token", "VAULT_ADDR=https://vault.acme.io VAULT_TOKEN=hvs.{v} vault kv get secret/app", lambda: r(90, ALNUM + "_-")),
    ("pypi-token", "twine upload -u __token__ -p pypi-AgEIcHlwaS5vcmc{v} dist/*", lambda: r(70, ALNUM + "_-")),
    ("age-key", "sops keys.txt:\n# public key: age1{p}\nAGE-SECRET-KEY-1{v}".replace("{p}", r(58, "023456789acdefghjklmnpqrstuvwxyz")),
     lambda: r(58, "023456789ACDEFGHJKLMNPQRSTUVWXYZ")),
    ("password", "inventory.ini\n[web]\n10.0.0.5 ansible_user=deploy ansible_ssh_pass={v} ansible_become_pass={v}", pw),
    ("high-entropy", "here's the api key the vendor sent us: {v} — how do I pass it to their SDK?", lambda: r(32)),
    ("high-entropy", "token for the staging webhook: {v}", lambda: r(40, ALNUM)),
    ("basic-auth", "curl -H 'Authorization: Basic {v}' https://jenkins.acme.io/job/build/api/json",
     lambda: base64.b64encode(f"admin:{pw()}".encode()).decode()),
    ("password", "mail:\n  smtp:\n    host: smtp.acme.io\n    username: alerts@acme.io\n    smtp_password: {v}", pw),
    ("password", "~/.pgpass contains db.acme.internal:5432:app:app_user:{v} but psql still prompts", pw),
    ("url-credentials", "pip.conf\n[global]\nindex-url = https://ci:{v}@pypi.acme.io/simple", lambda: r(32, ALNUM)),
    ("github-token", "~/.git-credentials\nhttps://octocat:ghp_{v}@github.com", lambda: r(36)),
    ("square-token", "SQUARE_ACCESS_TOKEN=EAAA{v}", lambda: r(60, ALNUM + "-_")),
    ("sentry-token", "SENTRY_AUTH_TOKEN=sntrys_{v} sentry-cli releases new 1.4.2", lambda: r(90, ALNUM)),
    ("grafana-token", "grafana service account token glsa_{v}", lambda: f"{r(32)}_{r(8, HEX)}"),
    ("newrelic-key", "NEW_RELIC_API_KEY=NRAK-{v}", lambda: r(27, string.ascii_uppercase + string.digits)),
    ("datadog-key", "DD_API_KEY={v} datadog-agent status", lambda: r(32, HEX)),
    ("launchdarkly-key", "ldclient.set_config(Config('sdk-{v}'))", uid),
    ("mapbox-secret", "MAPBOX_DOWNLOADS_TOKEN=sk.eyJ1Ijoi{v}", lambda: f"{r(20)}In0.{r(22, ALNUM + '_-')}"),
]

NEGATIVE = [
    ("certificate", "is this cert chain right?\n-----BEGIN CERTIFICATE-----\n" + "\n".join(b64(48) for _ in range(5))
     + "\n-----END CERTIFICATE-----"),
    ("certificate", "ca.crt:\n-----BEGIN CERTIFICATE-----\n" + "\n".join(b64(48) for _ in range(3))
     + "\n-----END CERTIFICATE-----\nnginx says unable to get local issuer certificate"),
    ("ssh-public-key", "authorized_keys has\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + r(43) + " dev@laptop\nbut login fails"),
    ("ssh-public-key", "add this deploy key: ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQ" + b64(120) + " ci@build"),
    ("base64-image", "why does this not render? <img src=\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA" + b64(90) + "\">"),
    ("base64-image", "background: url(data:image/svg+xml;base64," + b64(80) + ");"),
    ("oauth-client-id", "GOOGLE_CLIENT_ID=" + str(rng.randint(10**11, 10**12)) + "-" + r(32, HEX[:10] + "ghijklmnopqrstuv")
     + ".apps.googleusercontent.com"),
    ("oauth-client-id", "the GitHub app client_id is Iv1." + r(16, HEX) + ", where does the callback go?"),
    ("hex-id", "the cache key is " + r(32, HEX) + " but the value is stale"),
    ("hex-id", "Redis key session:" + r(40, HEX) + " has no TTL, why?"),
    ("hex-id", "primary key " + r(24, HEX) + " already exists in collection users (Mongo ObjectId)"),
    ("hex-id", "idempotency key " + uid() + " was reused, Stripe returns 400"),
    ("hex-id", "S3 object key uploads/2024/" + r(32, HEX) + ".png returns NoSuchKey"),
    ("co-authored-by", "Always end commit messages with\n\nCo-Authored-By: Continue <noreply@continue.dev>"),
    ("co-authored-by", "git commit -m 'fix parser\n\nCo-authored-by: Jane Doe <jane@acme.io>'"),
    ("git-sha", "after " + r(40, HEX) + " the tests started failing"),
    ("image-digest", "image: ghcr.io/acme/api@sha256:" + r(64, HEX)),
    ("integrity", "\"integrity\": \"sha512-" + b64(64) + "\""),
    ("go-sum", "golang.org/x/net v0.17.0 h1:" + b64(32) + "\ngolang.org/x/net v0.17.0/go.mod h1:" + b64(32)),
    ("cargo-lock", "[[package]]\nname = \"serde\"\nversion = \"1.0.193\"\nchecksum = \"" + r(64, HEX) + "\""),
    ("lfs-pointer", "version https://git-lfs.github.com/spec/v1\noid sha256:" + r(64, HEX) + "\nsize 1048576"),
    ("uuid", "request " + uid() + " failed with a 504 from the gateway"),
    ("placeholder", "export OPENAI_API_KEY=<YOUR_API_KEY>"),
    ("placeholder", "set STRIPE_SECRET_KEY=sk_live_... in your .env"),
    ("placeholder", "Authorization: Bearer <token>"),
    ("placeholder", "token: ${{ secrets.NPM_TOKEN }}"),
    ("env-reference", "PGPASSWORD=$DB_PASSWORD psql -h db -U app"),
    ("env-reference", "const key = process.env.STRIPE_KEY;"),
    ("env-reference", "api_key = os.getenv(\"ANTHROPIC_API_KEY\")"),
    ("public-key", "stripe publishable key pk_live_" + r(24) + " in the frontend is fine, right?"),
    ("public-key", "mapboxgl.accessToken = 'pk.eyJ1IjoiYWNtZSIsImEiOiJ" + r(20) + "'"),
    ("prose", "How long should a password be? Our policy says 12 characters and one symbol."),
    ("prose", "reset your password from the account page; the token expires after 24 hours"),
    ("prose", "what's the difference between an access token and a refresh token?"),
    ("prose", "Our secret sauce is caching: the API key lookups go through Redis."),
    ("regex", "password regex: ^(?=.*[A-Z])(?=.*\\d)(?=.*[^\\w\\s]).{12,}$"),
    ("code", "tokenizer = AutoTokenizer.from_pretrained(\"bert-base-uncased\")\nmax_tokens = 4096"),
    ("code", "hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt())\nuser.password_hash = hashed"),
    ("code", "def check_token(token: str) -> bool:\n    return hmac.compare_digest(token, expected_token)"),
    ("code", "if (!req.headers.authorization) return res.status(401).send('missing token')"),
    ("arn", "arn:aws:iam::" + str(rng.randint(10**11, 10**12)) + ":role/deploy-" + r(6).lower() + " cannot assume role"),
    ("aws-example", "aws configure\nAWS Access Key ID [None]: AKIAIOSFODNN7EXAMPLE\n"
                    "AWS Secret Access Key [None]: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("fingerprint", "The authenticity of host 'gitlab.acme.io' can't be established.\nED25519 key fingerprint is SHA256:"
     + b64(32).rstrip("=") + "."),
    ("fingerprint", "gpg --keyserver keys.openpgp.org --recv-keys " + r(40, HEX.upper())),
    ("action-pin", "uses: actions/checkout@" + r(40, HEX) + " # v4.1.1"),
    ("asset-hash", "<script src=\"/static/js/main." + r(8, HEX) + ".chunk.js\"></script> 404s after deploy"),
    ("k8s-placeholder", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: changeme"),
    ("css", "--accent: #" + r(6, HEX) + "; --key-color: #" + r(6, HEX) + ";"),
    ("sentry-public", "Sentry.init({ environment: 'prod', release: 'web@" + r(7, HEX) + "' })"),
    ("trace", "Traceback (most recent call last):\n  File \"app.py\", line 42, in handler\n    token = request.headers['X-Token']\nKeyError: 'X-Token'"),
    ("json-keys", "{\"token_type\": \"Bearer\", \"expires_in\": 3600, \"scope\": \"read write\"}"),
    ("salt-config", "bcrypt rounds = 12, password_min_length = 12, token_ttl_seconds = 900"),
    ("hash", "sha256sum says " + r(64, HEX) + "  release.tar.gz, does that match?"),
    ("hash", "md5 of the file is " + r(32, HEX)),
    ("random-test-data", "seed=" + str(rng.randint(10**8, 10**9)) + " gives a flaky test in test_shuffle"),
    ("jwt-docs", "A JWT looks like header.payload.signature; the header is usually {\"alg\":\"HS256\",\"typ\":\"JWT\"}."),
    ("public-cert-fingerprint", "pin the cert: sha256/" + b64(32)),
    ("npm-lock", "\"resolved\": \"https://registry.npmjs.org/lodash/-/lodash-4.17.21.tgz\", \"integrity\": \"sha512-"
     + b64(64) + "\""),
    ("terraform", "lineage = \"" + uid() + "\"\nserial = 42"),
    ("version", "pip install torch==2.1.0+cu121 --index-url https://download.pytorch.org/whl/cu121"),
]


def main() -> None:
    rows = []
    for kind, template, make in POSITIVE:
        value = make()
        rows.append({"text": template.replace("{v}", value).replace("{{", "{").replace("}}", "}"), "secret": True,
                     "kind": kind, "value": value})
    for kind, text in NEGATIVE:
        rows.append({"text": text, "secret": False, "kind": kind})
    out = Path(__file__).with_name("privacy_heldout.jsonl")
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    print(f"{out}: {sum(r['secret'] for r in rows)} with a secret, {sum(not r['secret'] for r in rows)} look-alikes")


if __name__ == "__main__":
    main()
