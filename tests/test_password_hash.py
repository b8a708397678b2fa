"""Password hashes: the product stores scrypt; a test app may name a cheaper werkzeug method."""

from __future__ import annotations

from sqlalchemy import select
from werkzeug.security import check_password_hash

from desk.models import User
from web import create_app
from web.auth import check_password, hash_password
from web.demo import DEMO_PASSWORD


def test_the_product_hashes_passwords_with_scrypt_unless_config_names_another_method(tmp_path):
    product = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/p.db"})
    with product.app_context():
        stored = hash_password("s3cret")
    assert stored.startswith("scrypt:") and check_password_hash(stored, "s3cret")

    cheap = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1",
        }
    )
    with cheap.app_context():
        stored = hash_password("s3cret")
    assert stored.startswith("pbkdf2:sha256:1$") and check_password_hash(stored, "s3cret")
    assert not check_password_hash(stored, "wrong")


def test_demo_users_in_test_apps_carry_the_cheap_hash_and_still_log_in(desk):
    # The seeded templates are built by test apps, so their demo users carry the cheap hash too.
    with desk.extensions["sessions"]() as session:
        hashes = session.scalars(select(User.password_hash)).all()
        assert check_password(session, "operator", DEMO_PASSWORD) is not None
        assert check_password(session, "operator", "not-the-password") is None
    assert hashes and all(h.startswith("pbkdf2:sha256:1$") for h in hashes)
