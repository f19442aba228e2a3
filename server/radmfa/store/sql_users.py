"""Users and their tokens, in the SQL both backends share."""

# ruff: noqa: S608

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime
from json.scanner import make_scanner
from typing import Any, TypeVar, cast

from radmfa.core.model import USER_FIELDS, MfaSuccess, NewToken, NewUser, Token, User, UserState
from radmfa.core.policy import name_key, name_problem
from radmfa.errors import AlreadyExists, StoreError, no_such_user
from radmfa.store.codec import from_epoch, to_epoch
from radmfa.store.seeds import SeedCipher
from radmfa.store.sql_base import Row, SqlBase, Statement
from radmfa.store.sql_exemptions import success_steps

# Column lists, in the order _user() and UsersSql._token() read them.
_USERS = (
    "u.id, u.name, u.email, u.mobile, u.first_name, u.last_name, u.password_hash, u.created_at, "
    "u.office_phone, u.language, u.default_method, u.state, u.blocked_until, u.blocked_reason, "
    "u.state_before_block, u.push_enrolled"
)
_USER_COLUMNS = len(_USERS.split(","))
_TOKENS = (
    "t.id, t.kind, t.secret_enc, t.digits, t.period, t.algorithm, t.last_step, t.label, "
    "t.created_at, t.fail_count, t.failed_at, t.serial"
)

_TOKEN_COLUMNS = len(_TOKENS.split(","))
LOGIN_VIEW_COLUMNS = _USER_COLUMNS + _TOKEN_COLUMNS


# The same view packed for SQLite: the user's and the token's text and
# integer columns each as one JSON array, their REAL and BLOB columns as they
# are (JSON keeps 15 digits of a REAL, and holds no BLOB). Python's sqlite3
# pays about a thousand instructions per result column on every execute
# (the cursor's description, built anew each time: a name decoded and a
# 7-tuple per column) and on every row (the lock released around each
# column's type); 29 columns become 7, each with a short name, and the cache
# keys below hash 3 and 5 values, not 16 and 13. The user's array starts
# with ``{bypass}`` (login_view_sql's argument). Read by UsersSql._packed_view.
_USERS_PACKED = (
    "json_array({bypass}, u.id, u.name, u.email, u.mobile, u.first_name, u.last_name, u.password_hash, "
    "u.office_phone, u.language, u.default_method, u.state, u.blocked_reason, u.state_before_block, "
    "u.push_enrolled) AS usr, u.created_at AS uc, u.blocked_until AS ub"
)
_TOKENS_PACKED = (
    "IIF(t.id IS NULL, NULL, json_array(t.id, t.kind, t.digits, t.period, t.algorithm, t.last_step, "
    "t.label, t.fail_count, t.serial)) AS tok, t.secret_enc AS sec, t.created_at AS tc, t.failed_at AS tf"
)
PACKED_VIEW_COLUMNS = 7
# The C scanner json.loads runs, called straight: loads' own Python layers
# cost more than scanning these arrays.
_scan = make_scanner(cast(Any, json.JSONDecoder()))


def login_view_sql(more: str = "", *, packed: bool = False, bypass: str = "") -> str:
    """The user and their tokens in one statement (the user row repeats once
    per token), with the columns ``more`` after theirs; one parameter, the
    name_key, after those ``more`` takes. ``packed``: SQLite's packed
    columns (PACKED_VIEW_COLUMNS of them, for UsersSql._packed_view), with
    ``bypass`` (0 when not given; its parameters come first) as the user
    array's first value."""
    extra = f", {more}" if more else ""
    users = _USERS_PACKED.format(bypass=bypass or "0") if packed else _USERS
    columns = f"{users}, {_TOKENS_PACKED if packed else _TOKENS}"
    return (
        f"SELECT {columns}{extra} FROM users u LEFT JOIN tokens t ON t.user_id = u.id "
        "WHERE u.name_key = ? ORDER BY t.id"
    )


LOGIN_VIEW_SQL = login_view_sql()
PACKED_VIEW_SQL = login_view_sql(packed=True)
# login_view's columns, for a statement that joins users ``u`` and tokens ``t`` itself.
LOGIN_VIEW_SELECT = f"{_USERS}, {_TOKENS}"


# The replay guard's compare-and-set (parameters: step, token id, step).
CONSUME_STEP_SQL = (
    "UPDATE tokens SET last_step = ?, fail_count = 0 WHERE id = ? AND (last_step IS NULL OR last_step < ?) RETURNING id"
)


def _token_aad(token_id: int) -> bytes:
    return b"tokens.secret_enc:%d" % token_id


# Decrypted seeds (and built users and tokens) kept in memory, at most this
# many of each (a few MB at most).
SEED_CACHE_SIZE = 4096
_K = TypeVar("_K")
_V = TypeVar("_V")
_STATES = {str(state): state for state in UserState}


class UsersSql(SqlBase):
    # A backend whose _read answers login_view_sql(packed=True) (SQLite with
    # its JSON functions) sets this; the login reads then use that statement.
    _packed_view_sql = False

    def __init__(self, cipher: SeedCipher) -> None:
        super().__init__(cipher)
        # Seeds decrypted for earlier logins, keyed by (token id, ciphertext):
        # every login reads its tokens, and opening the seed (AES-GCM, its
        # AAD) was a fixed cost of each. Only the process's memory holds
        # these; the database keeps every seed encrypted, as before. The
        # process holds the key itself, so whoever can read its memory can
        # open any seed anyway: the cache widens nothing, and a seed passes
        # through memory at each of its user's logins regardless. Keyed by
        # the ciphertext, whose nonce is fresh at each enrolment, an
        # enrolled-again token or a changed row is a miss and is decrypted
        # (and authenticated) as before; a row moved to another token id is
        # a miss, and fails its AAD. Bounded: when full it starts over.
        self._seeds: dict[tuple[int, bytes], bytes] = {}
        # The login view's User and Token objects, keyed by every column they
        # are built from (a frozen dataclass of sixteen fields costs more to
        # build than the read that found it): the second leg of a challenge
        # and a user's next login read the same rows. Any change to a row is
        # a miss; the objects are immutable, so sharing them is safe.
        self._users: dict[object, User] = {}
        self._tokens: dict[object, Token] = {}

    # -- users -------------------------------------------------------------------
    # Users are looked up by name_key(name), never by the name as given: the
    # spellings a NAS may send for one person (ALICE, alice@corp.example,
    # CORP\alice) must all find that person, or they count as unknown users.

    async def add_user(self, user: NewUser) -> User:
        problem = name_problem(user.name)
        if problem is not None:  # no login could name this user
            raise StoreError(f"user name {user.name!r} {problem}: choose another name")
        key = name_key(user.name)
        created = time.time()
        rows = await self._fetch(
            "INSERT INTO users (name, name_key, email, mobile, first_name, last_name, password_hash, "
            "created_at, office_phone, language, default_method, state, push_enrolled) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (name_key) DO NOTHING RETURNING id",
            user.name,
            key,
            user.email,
            user.mobile,
            user.first_name,
            user.last_name,
            user.password_hash,
            created,
            user.office_phone,
            user.language,
            user.default_method,
            str(user.state),
            int(user.push_enrolled),
        )
        if not rows:
            raise await self._taken(user.name, key)
        return User(
            id=rows[0][0],
            name=user.name,
            email=user.email,
            mobile=user.mobile,
            first_name=user.first_name,
            last_name=user.last_name,
            password_hash=user.password_hash,
            created_at=from_epoch(created),
            office_phone=user.office_phone,
            language=user.language,
            default_method=user.default_method,
            state=user.state,
            push_enrolled=user.push_enrolled,
        )

    async def _taken(self, name: str, key: str) -> AlreadyExists:
        rows = await self._fetch("SELECT name FROM users WHERE name_key = ?", key)
        if not rows or rows[0][0] == name:
            return AlreadyExists(f"user {name!r} already exists")
        return AlreadyExists(
            f"user {name!r} already exists as {rows[0][0]!r}: user names match whatever "
            "their case and any DOMAIN\\ prefix or @realm"
        )

    async def get_user(self, name: str) -> User | None:
        rows = await self._fetch(f"SELECT {_USERS} FROM users u WHERE u.name_key = ?", name_key(name))
        return _user(rows[0]) if rows else None

    async def list_users(self) -> list[User]:
        rows = await self._fetch(f"SELECT {_USERS} FROM users u ORDER BY u.name")
        return [_user(row) for row in rows]

    async def delete_user(self, name: str) -> bool:
        # Tokens go with the user: ON DELETE CASCADE, in the same statement.
        return await self._execute("DELETE FROM users WHERE name_key = ?", name_key(name)) > 0

    async def set_password_hash(self, name: str, password_hash: str | None) -> bool:
        changed = await self._execute(
            "UPDATE users SET password_hash = ? WHERE name_key = ?", password_hash, name_key(name)
        )
        return changed > 0

    async def rehash_password(self, name: str, old_hash: str, new_hash: str) -> bool:
        # One statement, and only over the hash that was checked: a password
        # set meanwhile (`radmfa user passwd`) is never overwritten.
        changed = await self._execute(
            "UPDATE users SET password_hash = ? WHERE name_key = ? AND password_hash = ?",
            new_hash, name_key(name), old_hash,
        )
        return changed > 0

    async def update_user(self, name: str, changes: Mapping[str, object]) -> User | None:
        """Set the given profile fields (model.USER_FIELDS) in one statement;
        None when there is no such user. An empty ``changes`` only reads."""
        unknown = set(changes) - set(USER_FIELDS)
        if unknown:
            raise ValueError(f"not user fields: {', '.join(sorted(unknown))}")
        if changes:
            columns = ", ".join(f"{column} = ?" for column in changes)
            values = [_column_value(v) for v in changes.values()]
            await self._execute(f"UPDATE users SET {columns} WHERE name_key = ?", *values, name_key(name))
        return await self.get_user(name)

    # -- tokens ------------------------------------------------------------------

    async def add_token(self, username: str, token: NewToken) -> Token:
        return await self._insert_token(username, token)

    async def _insert_token(self, username: str, token: NewToken, also: Sequence[Statement] = ()) -> Token:
        """add_token, running the statements ``also`` in the same transaction."""
        created = time.time()

        # The seed's ciphertext is bound to the row id, which exists only after
        # the INSERT; the placeholder is replaced before the transaction commits.
        def seal(row: Row) -> list[Statement]:
            token_id = int(row[0])
            sealed = self._cipher.encrypt(token.secret, context=_token_aad(token_id))
            return [("UPDATE tokens SET secret_enc = ? WHERE id = ?", (sealed, token_id)), *also]

        # RETURNING the owner's stored name, so the Token shows it as list_tokens does.
        row = await self._fetch_then(
            (
                "INSERT INTO tokens (user_id, kind, secret_enc, digits, period, algorithm, "
                "label, created_at, serial, last_step) SELECT id, ?, ?, ?, ?, ?, ?, ?, ?, ? "
                "FROM users WHERE name_key = ? "
                "RETURNING id, (SELECT name FROM users WHERE users.id = tokens.user_id)",
                (
                    token.kind,
                    b"",
                    token.digits,
                    token.period,
                    token.algorithm,
                    token.label,
                    created,
                    token.serial,
                    token.last_step,
                    name_key(username),
                ),
            ),
            seal,
        )
        if row is None:
            raise no_such_user(username)
        return Token(
            id=int(row[0]),
            username=row[1],
            kind=token.kind,
            secret=token.secret,
            digits=token.digits,
            period=token.period,
            algorithm=token.algorithm,
            label=token.label,
            created_at=from_epoch(created),
            last_step=token.last_step,
            serial=token.serial,
        )

    async def list_tokens(self, username: str | None = None) -> list[Token]:
        sql = f"SELECT u.name, {_TOKENS} FROM tokens t JOIN users u ON u.id = t.user_id"
        if username is None:
            rows = await self._fetch(sql + " ORDER BY t.id")
        else:
            rows = await self._fetch(sql + " WHERE u.name_key = ? ORDER BY t.id", name_key(username))
        return [self._token(row, 1, row[0]) for row in rows]

    async def delete_token(self, token_id: int) -> bool:
        return await self._execute("DELETE FROM tokens WHERE id = ?", token_id) > 0

    async def login_view(self, username: str) -> tuple[User | None, list[Token]]:
        # One round trip on the hot path: the user row repeats once per token.
        if self._packed_view_sql:
            return self._packed_view(await self._read(PACKED_VIEW_SQL, name_key(username)))[:2]
        return self._view(await self._read(LOGIN_VIEW_SQL, name_key(username)))

    def _view(self, rows: Sequence[Row]) -> tuple[User | None, list[Token]]:
        """login_view's rows (LOGIN_VIEW_SQL) as the user and their tokens."""
        if not rows:
            return None, []
        key = tuple(rows[0][:_USER_COLUMNS])
        user = self._users.get(key)
        if user is None:
            user = _remember(self._users, key, _user(rows[0]))
        tokens = []
        for row in rows:
            if row[_USER_COLUMNS] is None:
                continue
            token_key = (user.name, *row[_USER_COLUMNS:LOGIN_VIEW_COLUMNS])
            token = self._tokens.get(token_key)
            if token is None:
                token = _remember(self._tokens, token_key, self._token(row, _USER_COLUMNS, user.name))
            tokens.append(token)
        return user, tokens

    def _packed_view(self, rows: Sequence[Row]) -> tuple[User | None, list[Token], bool]:
        """The rows of login_view_sql(packed=True) as the user, their tokens
        (the same objects _view builds from the plain columns) and the user
        array's first value (an open bypass)."""
        if not rows:
            return None, [], False
        first = rows[0]
        text = first[0]
        key = (text, first[1], first[2])
        user = self._users.get(key)
        if user is None:
            user = _remember(self._users, key, _packed_user(_scan(text, 0)[0], first[1], first[2]))
        tokens = []
        for row in rows:
            packed = row[3]
            if packed is None:
                continue
            token_key = (user.name, packed, row[4], row[5], row[6])
            token = self._tokens.get(token_key)
            if token is None:
                token = _remember(self._tokens, token_key, self._packed_token(_scan(packed, 0)[0], row, user.name))
            tokens.append(token)
        # json_array writes the first value, 0 or 1, right after its "[".
        return user, tokens, text[1] == "1"

    def consume_otp_step(self, token_id: int, step: int, *, success: MfaSuccess | None = None) -> Awaitable[bool]:
        return self._consume_otp_step(token_id, step, success)

    async def _consume_otp_step(self, token_id: int, step: int, success: MfaSuccess | None) -> bool:
        # Compare-and-set in one statement: of two racing workers only one
        # sees its UPDATE match (RFC 6238 §5.2: a code is accepted only once).
        # The same statement clears the wrong-code count: no second write on success.
        if success is None:
            return bool(await self._fetch(CONSUME_STEP_SQL, step, token_id, step))

        # The login's MFA success in the same transaction, only if the step was taken.
        def then(_row: Row) -> list[Statement]:
            steps = success_steps(
                success.user_id, success.scopes, success.station, success.client, to_epoch(success.now)
            )
            return [(sql, row) for sql, rows in steps for row in rows]

        return await self._fetch_then((CONSUME_STEP_SQL, (step, token_id, step)), then) is not None

    async def note_code_failure(self, token_ids: Sequence[int], *, now: datetime) -> None:
        if not token_ids:
            return
        # fail_count + 1 in the UPDATE itself, not read-then-write: concurrent
        # wrong codes from other workers and nodes are all counted.
        marks = ", ".join(["?"] * len(token_ids))
        await self._execute(
            f"UPDATE tokens SET fail_count = fail_count + 1, failed_at = ? WHERE id IN ({marks})",
            to_epoch(now),
            *token_ids,
        )

    def _secret(self, token_id: int, ciphertext: bytes) -> bytes:
        """A token's seed, decrypted with its id as associated data (a seed
        moved to another token does not open), remembered by both."""
        sealed = (token_id, ciphertext)
        secret = self._seeds.get(sealed)
        if secret is None:
            secret = _remember(self._seeds, sealed, self._cipher.decrypt(ciphertext, context=_token_aad(token_id)))
        return secret

    def _token(self, row: Row, i: int, username: str) -> Token:
        token_id = int(row[i])
        secret = self._secret(token_id, bytes(row[i + 2]))
        # Positional, in Token's field order: keywords cost a dict per call.
        failed_at = row[i + 10]
        return Token(
            token_id,
            username,
            row[i + 1],
            secret,
            row[i + 3],
            row[i + 4],
            row[i + 5],
            row[i + 6],
            row[i + 7],
            from_epoch(row[i + 8]),
            row[i + 9],
            None if failed_at is None else from_epoch(failed_at),
            row[i + 11],
        )

    def _packed_token(self, c: list[Any], row: Row, username: str) -> Token:
        """_token from a scanned token array of login_view_sql(packed=True)
        and the row's seed ciphertext and times."""
        token_id = c[0]
        secret = self._secret(token_id, bytes(row[4]))
        failed_at = row[6]
        return Token(
            token_id,
            username,
            c[1],
            secret,
            c[2],
            c[3],
            c[4],
            c[5],
            c[6],
            from_epoch(row[5]),
            c[7],
            None if failed_at is None else from_epoch(failed_at),
            c[8],
        )


def _remember(memo: dict[_K, _V], key: _K, value: _V) -> _V:
    """Keep ``value`` under ``key`` in one of the bounded in-memory maps
    (SEED_CACHE_SIZE entries at most: when full, it starts over)."""
    if len(memo) >= SEED_CACHE_SIZE:
        memo.clear()  # thread-safe, unlike evicting one entry
    memo[key] = value
    return value


def _column_value(value: object) -> object:
    if isinstance(value, datetime):
        return to_epoch(value)
    if isinstance(value, UserState):
        return str(value)
    if isinstance(value, bool):  # push_enrolled: 0/1 on both backends
        return int(value)
    return value


def _user(row: Row) -> User:
    # Positional, in User's field order: keywords cost a dict per call.
    blocked_until, before = row[12], row[14]
    return User(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        from_epoch(row[7]),
        row[8],
        row[9],
        row[10],
        _STATES.get(row[11]) or UserState(row[11]),
        None if blocked_until is None else from_epoch(blocked_until),
        row[13],
        None if before is None else UserState(before),
        bool(row[15]),
    )


def _packed_user(c: list[Any], created_at: float, blocked_until: float | None) -> User:
    """_user from a scanned user array of login_view_sql(packed=True) (its
    first value, the bypass, is not the user's) and the row's two times."""
    before = c[13]
    return User(
        c[1],
        c[2],
        c[3],
        c[4],
        c[5],
        c[6],
        c[7],
        from_epoch(created_at),
        c[8],
        c[9],
        c[10],
        _STATES.get(c[11]) or UserState(c[11]),
        None if blocked_until is None else from_epoch(blocked_until),
        c[12],
        None if before is None else UserState(before),
        bool(c[14]),
    )
