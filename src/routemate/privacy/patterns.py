"""The secret formats routemate finds beside detect-secrets' own, as (kind, regex).

Formats with a fixed prefix follow the public rules of gitleaks (``cmd/generate/config/rules``),
trufflehog's detectors and the vendors' documentation; the rest are contexts in which developers
paste passwords (prose, ``.netrc``, ``sshpass``, XML, ``.pgpass``, command-line flags). A named
group ``v`` marks the secret inside a match: only it is redacted. Every pattern here should have a
literal that each match contains (``detect.gate_of`` derives it): a pattern without one runs on
every text.
"""

from __future__ import annotations

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# Formats with a fixed prefix or host: found anywhere, no keyword needed.
PREFIXED: list[tuple[str, str]] = [
    ("openai-key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}"),
    ("anthropic-key", r"\bsk-ant-[a-z]+\d*-[A-Za-z0-9_-]{40,}"),
    ("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    ("google-oauth-secret", r"\bGOCSPX-[A-Za-z0-9_-]{28}\b"),
    ("google-oauth-token", r"\bya29\.[A-Za-z0-9_-]{30,}"),
    ("google-oauth-token", r"(?<![\w/])1//0[A-Za-z0-9_-]{40,}"),
    ("github-token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b"),
    ("github-token", r"\bgithub_pat_[A-Za-z0-9_]{60,}"),
    ("gitlab-token", r"\bgl(?:pat|dt|rt|ptt|cbt|ft|imt|oas|soat|agent)-[A-Za-z0-9_-]{20,}"),
    ("gitlab-token", r"\bGR1348941[A-Za-z0-9_-]{20,}"),
    ("huggingface-token", r"\bhf_[A-Za-z0-9]{30,}\b"),
    ("stripe-key", r"\b(?:sk|rk)_(?:live|test)_[0-9a-zA-Z]{20,}"),
    ("stripe-webhook", r"\bwhsec_[A-Za-z0-9+/=]{24,}"),
    ("slack-token", r"\bxapp-\d-[A-Z0-9]+-\d+-[a-f0-9]{32,}"),
    ("slack-token", r"\bxox[baprse]-(?:\d+-)+[A-Za-z0-9-]{10,}"),
    ("slack-webhook", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]+"),
    ("teams-webhook", r"https://[\w-]+\.webhook\.office\.com/webhookb2/[\w@/.-]+"),
    ("teams-webhook", r"https://[\w.-]+\.logic\.azure\.com(?::443)?/workflows/[^\s'\"<>]+"),
    ("discord-webhook", r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[\w-]{60,}"),
    ("google-chat-webhook", r"https://chat\.googleapis\.com/v1/spaces/[^\s'\"<>]+"),
    ("azure-ad-secret", r"(?<![\w~.-])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![\w~.-])"),
    ("azure-sas", r"[?&]sig=(?P<v>[A-Za-z0-9%+/=]{20,})"),
    ("azure-devops-token", r"\b[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4}\b"),
    ("doppler-token", r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.(?:[a-z0-9_-]+\.)?[A-Za-z0-9]{40,44}\b"),
    ("npm-token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("shopify-token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    ("atlassian-token", r"\bATATT3[A-Za-z0-9_=-]{100,}"),
    ("bitbucket-token", r"\bATBB[A-Za-z0-9]{32}\b"),
    ("digitalocean-token", r"\bdo[opr]_v1_[a-f0-9]{64}\b"),
    ("databricks-token", r"\bdapi[a-f0-9]{32}(?:-\d)?\b"),
    ("linear-key", r"\blin_(?:api|oauth)_[a-zA-Z0-9]{40}\b"),
    ("notion-token", r"\bntn_[0-9]{11}[A-Za-z0-9]{32,}\b"),
    ("notion-token", r"\bsecret_[A-Za-z0-9]{43}\b"),
    ("postman-key", r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b"),
    ("grafana-token", r"\bglc_[A-Za-z0-9+/]{32,}={0,2}"),
    ("grafana-token", r"\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b"),
    ("newrelic-key", r"\bNR(?:AK|JS|II)-[A-Z0-9]{19,32}\b"),
    ("sentry-token", r"\bsntry[su]_[A-Za-z0-9+/=_]{40,}"),
    ("vault-token", r"\bhv[sb]\.[A-Za-z0-9_-]{90,}"),
    ("terraform-token", r"\b[a-z0-9]{14}\.atlasv1\.[a-z0-9_=-]{60,}"),
    ("pypi-token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
    ("age-key", r"\bAGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}\b"),
    ("groq-key", r"\bgsk_[A-Za-z0-9]{52}\b"),
    ("replicate-token", r"\br8_[A-Za-z0-9]{37}\b"),
    ("perplexity-key", r"\bpplx-[A-Za-z0-9]{48}\b"),
    ("xai-key", r"\bxai-[A-Za-z0-9]{80}\b"),
    ("square-token", r"\bsq0(?:atp|csp)-[A-Za-z0-9_-]{22,43}\b"),
    ("square-token", r"\bEAAA[A-Za-z0-9_-]{60}\b"),
    ("braintree-token", r"\baccess_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32}\b"),
    ("shippo-token", r"\bshippo_(?:live|test)_[a-f0-9]{40}\b"),
    ("mailgun-key", r"\bkey-[a-f0-9]{32}\b"),
    ("brevo-key", r"\bxkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}\b"),
    ("heroku-key", r"\bHRKU-[A-Za-z0-9_-]{60}\b"),
    ("flyio-token", r"\b(?:fo1|fm1[ar]|fm2)_[A-Za-z0-9_-]{40,}"),
    ("netlify-token", r"\bnfp_[A-Za-z0-9]{36}\b"),
    ("supabase-token", r"\bsbp_[a-f0-9]{40}\b"),
    ("alibaba-key", r"\bLTAI[a-z0-9]{20}\b"),
    ("dynatrace-token", r"\bdt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}\b"),
    ("contentful-token", r"\bCFPAT-[A-Za-z0-9_-]{43}\b"),
    ("pulumi-token", r"\bpul-[a-f0-9]{40}\b"),
    ("rubygems-key", r"\brubygems_[a-f0-9]{48}\b"),
    ("planetscale-token", r"\bpscale_(?:tkn|pw|oauth)_[A-Za-z0-9_=.-]{32,64}\b"),
    ("easypost-key", r"\bEZ[AT]K[a-z0-9]{54}\b"),
    ("facebook-token", r"\bEAA[CM][A-Za-z0-9]{100,}"),
    ("twitter-token", r"\bAAAAAAAAAAAAAAAAAAAAA[A-Za-z0-9%]{30,}"),
    ("launchdarkly-key", rf"\b(?:sdk|mob)-{UUID_RE}\b"),
    ("okta-token", r"\bSSWS\s+(?P<v>00[A-Za-z0-9_-]{40})\b"),
    ("okta-token", r"(?i:okta)[^\n]{0,40}?\b(?P<v>00[A-Za-z0-9_-]{40})\b"),
    ("discord-token", r"[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}(?![\w-])"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"),     # the signature too
    ("mapbox-secret", r"\bsk\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{20,}"),
    ("aws-secret-key", r"(?i)aws.{0,20}?secret.{0,20}?[=:]\s*[\"']?(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"),
    ("private-key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY"
                    r"(?: BLOCK)?-----|\Z)"),
    ("private-key", r"PuTTY-User-Key-File-\d: [\s\S]*?(?:Private-MAC: [0-9a-f]+|\Z)"),
    ("gcp-service-account", r"\"private_key_id\"\s*:\s*\"(?P<v>[0-9a-f]{40})\""),
    ("sentry-dsn", r"\bhttps?://(?P<v>[0-9a-f]{32})(?::[0-9a-f]{32})?@[\w.-]*sentry[\w.-]*"),
    ("url-credentials", r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:(?P<v>[^@\s'\"/]{3,})@[^\s'\"]+"),
    ("url-credentials", r"\b[a-z][a-z0-9+.-]*://:(?P<v>[^@\s'\"/]{3,})@[^\s'\"]+"),      # redis://:pass@host
]

# Formats that are only a secret next to a word that says so (scanned on such lines only).
IN_CONTEXT: list[tuple[str, str]] = [
    ("connection-string", r"(?i)\b(?:password|pwd)\s*=\s*(?P<v>[^;\s\"'&]{4,})\s*(?:;|&|$)"),
    ("bearer-token", r"(?i)\bauthorization\s*:\s*(?:bearer|token|basic|ssws)\s+(?P<v>[A-Za-z0-9._~+/=-]{8,})"),
    # "the db password is X", "I set the pw to X", "passphrase: X", "the password on the NAS is X"
    ("password", r"(?i)\b(?:password|passwd|passphrase|passcode|pass|pw|pwd)\s+(?:is|was|=|to|of|:)\s+"
                 r"(?:now\s+|still\s+|set\s+to\s+)?[\"'`]?(?P<v>[^\s\"'`]{6,})"),
    ("password", r"(?i)\b(?:password|passwd|passphrase|passcode)\b[^\n.?!:=]{1,40}?\s(?:is|was)\s+[\"'`]?"
                 r"(?P<v>[^\s\"'`]{6,})"),
    ("password", r"(?im)^\s*password\s+(?P<v>\S{6,})\s*$"),                    # a .netrc line
    ("password", r"(?i)\b(?:password|passwd|pw)\s+[\"'`]?(?P<v>[^\s\"'`]{6,})"),   # "user demo and password X"
    # "creds: admin:X", "login is ops / X"
    ("password", r"(?i)\b(?:creds?|credentials|login|user(?:name)?)\b[^\n]{0,40}?[\w.@-]+(?::|\s+/\s+)"
                 r"(?P<v>[^\s/:]{6,})"),
]

# Contexts in which a person pastes a password; a value must look like one (``looks_like_password``).
PASSWORDS: list[tuple[str, str]] = [
    ("password", r"\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]*?\s-p(?P<v>[^\s'\"]{4,})"),
    ("password", r"\b(?:docker|podman|helm|oras)\s+(?:registry\s+)?login\b[^\n]*?\s(?:-p|--password)[\s=]+"
                 r"(?P<v>[^\s'\"]{4,})"),
    ("password", r"\b(?:curl|wget|http)\b[^\n]*?\s(?:-u|--user)[\s=]+['\"]?[^\s:'\"]+:(?P<v>[^\s'\"]{4,})"),
    ("password", r"(?i)\bmachine\s+\S+\s+(?:login\s+\S+\s+)?password\s+(?P<v>\S{4,})"),          # .netrc
    ("password", r"\bsshpass\s+(?:-\w\s+)*-p\s*['\"]?(?P<v>[^\s'\"]{4,})"),
    ("password", r"(?i)<(?P<tag>[\w:.-]*(?:password|passwd|secret|token|apikey|api_key)[\w:.-]*)>\s*"
                 r"(?P<v>[^<\s]{4,})\s*</(?P=tag)>"),                                             # XML
    ("password", r"(?i)\bkey=\"[^\"]*(?:password|passwd|secret|token|apikey)[^\"]*\"\s+value=\"(?P<v>[^\"]{4,})\""),
    ("password", r"(?<![\w./:*-])[\w.*-]+(?::5432|:6432|:\*):[\w*.-]+:[\w*.-]+:(?P<v>[^\s:]{4,})"),        # .pgpass
    ("password", r"\bdefine\(\s*['\"][A-Z_]*(?:PASSWORD|PASS|PWD|SECRET|TOKEN|KEY|SALT)[A-Z_]*['\"]\s*,\s*['\"]"
                 r"(?P<v>[^'\"]{4,})['\"]"),                                                       # PHP define()
    ("password", r"(?:PDO|mysqli_connect|mysqli)\s*\((?:\s*['\"][^'\"]*['\"]\s*,){2}\s*['\"](?P<v>[^'\"]{4,})['\"]"),
    ("password", r"\bvariable\s+\"[^\"\n]*(?i:password|passwd|secret|token)[^\"\n]*\"\s*\{[^}]{0,200}?\bdefault\s*=\s*"
                 r"\"(?P<v>[^\"]{4,})\""),                                                       # HCL variable
    ("password", r"\bhtpasswd\s+(?:-[A-Za-z]+\s+)*?-[A-Za-z]*b[A-Za-z]*\s+(?:-[A-Za-z]+\s+)*\S+\s+\S+\s+(?P<v>\S{4,})"),
    ("password", r"\becho\s+['\"]?(?P<v>[^'\"\s|]{4,})['\"]?\s*\|\s*sudo\s+(?:-\w+\s+)*-S\b"),
    ("password", r"(?i)\bConvertTo-SecureString\s+(?:-String\s+)?['\"](?P<v>[^'\"]{4,})['\"]"),
    ("password", r"\brabbitmqctl\s+(?:add_user|change_password)\s+\S+\s+['\"]?(?P<v>[^\s'\"]{4,})"),
    ("password", r"\s-(?:storepass|keypass|srcstorepass|deststorepass|passin|passout)\s+(?:pass:)?['\"]?"
                 r"(?P<v>[^\s'\"]{4,})"),
    ("password", r"\bpass:(?P<v>[^\s'\"]{4,})"),                                                # openssl
    ("password", r"\bsqlcmd\b[^\n]*?\s-P\s+['\"]?(?P<v>[^\s'\"]{4,})"),
    ("password", r"(?i)\bnet\s+use\b[^\n]*?/user:\S+\s+(?P<v>[^\s/]\S{3,})"),
    ("password", r"\s--?(?:password|passwd)[\s=]+['\"]?(?P<v>[^\s'\"$]{4,})"),
]

# Values given in these kinds must look like a password, not a word or a flag.
PASSWORD_KINDS = frozenset({"password"})

# Auth schemes: "token_type: Bearer" names a scheme, "Authorization: Bearer X" holds a secret after it.
SCHEMES = frozenset({"bearer", "basic", "token", "digest", "negotiate", "ntlm", "ssws", "apikey"})

# Public values that look random: publishable keys, SSH key blobs, hashes named by their prefix.
PUBLIC_PREFIXES = ("pk_live_", "pk_test_", "pk.eyJ", "AAAA", "sha1-", "sha256-", "sha384-", "sha512-", "h1:")

__all__ = ["IN_CONTEXT", "PASSWORDS", "PASSWORD_KINDS", "PREFIXED", "PUBLIC_PREFIXES", "SCHEMES"]
