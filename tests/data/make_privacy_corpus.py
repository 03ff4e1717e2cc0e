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


def main() -> None:
    rows = []
    for i in range(4):
        for kind, template, make in POSITIVE:
            value = make()
            rows.append({"text": template(value), "secret": True, "kind": kind, "value": value})
    for text in negative_templates():
        rows.append({"text": text, "secret": False, "kind": "none"})
    path = Path(__file__).with_name("privacy_corpus.jsonl")
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    pos = sum(r["secret"] for r in rows)
    print(f"{path}: {pos} with secrets, {len(rows) - pos} without")


if __name__ == "__main__":
    main()
