"""Writes privacy_heldout2.jsonl: a second held-out part of the secret-detection corpus.

Written after the first held-out part had been measured once and before the detector was tuned
again (on the development corpus only), so it measures that second round the way the first part
measured the first. Never tuned on. Same row format as make_privacy_heldout.py; values random.

Run from the repository root: ``python tests/data/make_privacy_heldout2.py``.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from pathlib import Path

rng = random.Random(99173)
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def r(n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def pw() -> str:
    words = ["Lantern", "grape", "Comet", "pebble", "Walrus", "ember", "Glacier", "tulip", "Radish", "meadow"]
    return rng.choice(words) + str(rng.randint(100, 9999)) + rng.choice("!@#$%^&*+") + rng.choice(words)


def uid() -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


POSITIVE = [
    ("password", "can you help me script this? ssh pi@192.168.1.40, password {v}", pw),
    ("password", "for the demo env use user demo and password {v} (it gets reset nightly)", pw),
    ("password", "keycloak admin creds: admin:{v}", pw),
    ("password", "docker run -e POSTGRES_PASSWORD={v} -p 5432:5432 postgres:16", pw),
    ("password", "environment:\n  MYSQL_ROOT_PASSWORD: {v}\n  MYSQL_DATABASE: shop", pw),
    ("password", "$conn = new PDO($dsn, 'shop', '{v}');  // PDOException: access denied", pw),
    ("password", "spring:\n  datasource:\n    password: {v}\n    username: svc_orders", pw),
    ("password", "Get-Credential fails so I did $pw = ConvertTo-SecureString '{v}' -AsPlainText -Force", pw),
    ("password", "rabbitmqctl add_user deploy {v}", pw),
    ("password", "htpasswd -b -c .htpasswd admin {v}", pw),
    ("password", "echo '{v}' | sudo -S apt-get update  # in a cron job, bad idea?", pw),
    ("url-credentials", "SQLALCHEMY_DATABASE_URI = 'postgresql+psycopg2://orders:{v}@10.1.2.3/orders'", pw),
    ("url-credentials", "proxy: http://svc_proxy:{v}@proxy.corp.acme.io:3128", pw),
    ("url-credentials", "ELASTICSEARCH_URL=https://elastic:{v}@es.acme.io:9200", pw),
    ("aws-key", "the key id is {v}, do I need the secret too?", lambda: "AKIA" + r(16, string.ascii_uppercase + "234567")),
    ("aws-secret-key", "AWS_SECRET_ACCESS_KEY: {v}", lambda: r(40, ALNUM + "/+")),
    ("github-token", "gh secret set NPM_TOKEN --body {v}", lambda: "ghp_" + r(36)),
    ("github-token", "[credential]\n  helper = store\n# token: {v}", lambda: "github_pat_" + r(22) + "_" + r(59)),
    ("gitlab-token", "CI_JOB_TOKEN works but {v} gives 403 on the registry", lambda: "glpat-" + r(20, ALNUM + "_-")),
    ("slack-token", "SLACK_BOT_TOKEN: {v}", lambda: f"xoxb-{rng.randint(10**11, 10**12)}-{rng.randint(10**12, 10**13)}-{r(24)}"),
    ("stripe-key", "Stripe::setApiKey('{v}');", lambda: "sk_live_" + r(24)),
    ("openai-key", "llm keys set openai\nKey: {v}", lambda: "sk-proj-" + r(64, ALNUM + "_-")),
    ("anthropic-key", "in continue's config.yaml: apiKey: {v}", lambda: "sk-ant-api03-" + r(95, ALNUM + "_-")),
    ("google-api-key", "const firebaseConfig = {{ apiKey: \"{v}\", authDomain: \"acme.firebaseapp.com\" }};",
     lambda: "AIza" + r(35, ALNUM + "_-")),
    ("jwt", "the refresh cookie holds {v} and it never expires",
     lambda: "eyJhbGciOiJIUzI1NiJ9." + base64.urlsafe_b64encode(bytes(rng.getrandbits(8) for _ in range(40))).decode().rstrip("=")
             + "." + r(43, ALNUM + "_-")),
    ("private-key", "our deploy key (I know, I know):\n{v}",
     lambda: "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(r(64, ALNUM + "+/") for _ in range(4))
             + "\n-----END RSA PRIVATE KEY-----"),
    ("sendgrid-key", "SENDGRID_API_KEY='{v}'", lambda: f"SG.{r(22, ALNUM + '_-')}.{r(43, ALNUM + '_-')}"),
    ("twilio-token", "client = Client(account_sid, \"{v}\")  # auth token", lambda: r(32, HEX)),
    ("azure-storage-key", "az storage account keys list shows key1 = {v}",
     lambda: base64.b64encode(bytes(rng.getrandbits(8) for _ in range(64))).decode()),
    ("huggingface-token", "from huggingface_hub import login; login(\"{v}\")", lambda: "hf_" + r(34)),
    ("npm-token", "npm token create printed {v}", lambda: "npm_" + r(36)),
    ("high-entropy", "the vendor's HMAC shared secret: {v}", lambda: r(48, ALNUM + "+/")),
    ("high-entropy", "api_secret {v}", lambda: r(40)),
    ("bearer-token", "wscat -c wss://stream.acme.io -H 'Authorization: Bearer {v}'", lambda: r(36, ALNUM + "-_.")),
    ("env-secret", ".env.production\nNEXTAUTH_URL=https://app.acme.io\nNEXTAUTH_SECRET={v}", lambda: r(44, ALNUM + "+/=")),
    ("connection-string", "Data Source=db01;Initial Catalog=Erp;User ID=erp;Password={v};TrustServerCertificate=True", pw),
    ("secret", "Rails.application.credentials: secret_key_base: {v}", lambda: r(128, HEX)),
    ("discord-token", "client.run('{v}')", lambda: "M" + r(25, ALNUM + "_-") + "." + r(6, ALNUM + "_-") + "." + r(38, ALNUM + "_-")),
    ("telegram-token", "TELEGRAM_BOT_TOKEN={v}", lambda: f"{rng.randint(10**9, 10**10)}:AA{r(33, ALNUM + '_-')}"),
    ("slack-webhook", "requests.post(\"https://hooks.slack.com/services/T{a}/B{b}/{v}\", json=msg)".replace(
        "{a}", r(10, string.ascii_uppercase + string.digits)).replace("{b}", r(10, string.ascii_uppercase + string.digits)),
     lambda: r(24)),
]

NEGATIVE = [
    "please don't paste your password here, use the vault link instead",
    "POSTGRES_PASSWORD_FILE=/run/secrets/db_password",
    "password: ${DB_PASSWORD}",
    "MYSQL_ROOT_PASSWORD: ${{ secrets.MYSQL_ROOT_PASSWORD }}",
    "the admin / password combination is configured in Vault, not in the repo",
    "htpasswd -c .htpasswd admin  # prompts for the password",
    "sudo -S reads the password from stdin; is that safe in scripts?",
    "openssl rand -base64 32 > secret.key  # generate a key",
    "ssh-keygen -t ed25519 -C 'deploy@acme.io' -f ~/.ssh/deploy_key",
    "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(bytes(rng.getrandbits(8) for _ in range(48))).decode()
    + "\n-----END PUBLIC KEY-----\nhow do I load this in Go?",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + r(43) + " deploy@ci",
    "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/" + base64.b64encode(bytes(rng.getrandbits(8) for _ in range(60))).decode(),
    "the object key is invoices/" + uid() + ".pdf",
    "sort key " + r(24, HEX) + " and partition key tenant#42",
    "Co-Authored-By: Continue <noreply@continue.dev>\nCo-Authored-By: Claude <noreply@anthropic.com>",
    "Reviewed-by: Alex <alex@acme.io>\nCo-authored-by: Sam <sam@acme.io>",
    "git show " + r(40, HEX) + ":config/secrets.yml",
    "sha1 " + r(40, HEX) + " doesn't match the expected checksum",
    "pip hash: --hash=sha256:" + r(64, HEX),
    "\"token_type\":\"bearer\",\"expires_in\":86400,\"refresh_token_expires_in\":604800",
    "the auth flow: client sends code, server exchanges it for a token",
    "client_id=" + r(20, HEX) + "&redirect_uri=https://app.acme.io/callback&response_type=code",
    "AZURE_TENANT_ID=" + uid() + "\nAZURE_SUBSCRIPTION_ID=" + uid(),
    "stripe.Price.create(unit_amount=2000, currency='usd', product='prod_" + r(14) + "')",
    "key = cache.make_key('user', user_id)  # returns 'user:42'",
    "API keys are rotated every 90 days by the platform team.",
    "password_policy = {'min_length': 12, 'require_symbol': True}",
    "Secret Manager secret projects/acme/secrets/db-password/versions/latest",
    "kubectl create secret generic db --from-literal=password=$(openssl rand -hex 16)",
    "uuid4: " + uid() + ", trace: " + r(32, HEX),
]


def main() -> None:
    rows = []
    for kind, template, make in POSITIVE:
        value = make()
        rows.append({"text": template.replace("{v}", value).replace("{{", "{").replace("}}", "}"), "secret": True,
                     "kind": kind, "value": value})
    for text in NEGATIVE:
        rows.append({"text": text, "secret": False, "kind": "lookalike"})
    out = Path(__file__).with_name("privacy_heldout2.jsonl")
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    print(f"{out}: {sum(r['secret'] for r in rows)} with a secret, {sum(not r['secret'] for r in rows)} look-alikes")


if __name__ == "__main__":
    main()
