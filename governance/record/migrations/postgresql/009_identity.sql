-- People who use Quorum and the one role each acts in. Local accounts carry an argon2id password hash;
-- accounts signed in through the organisation's identity provider (OIDC) or demo users carry none.
CREATE TABLE app_user (
    user_name     VARCHAR PRIMARY KEY,     -- sign-in name, or the e-mail address the identity provider asserts
    display_name  VARCHAR NOT NULL,        -- the printed name on signatures
    role          VARCHAR NOT NULL CHECK (role IN ('viewer', 'engineering leader', 'risk owner',
                                                   'committee member', 'committee chair', 'admin')),
    source        VARCHAR NOT NULL CHECK (source IN ('local', 'oidc', 'demo')),
    password_hash VARCHAR,
    created_at    TIMESTAMP NOT NULL,      -- UTC
    created_by    VARCHAR NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT false
);
