"""Gateway tables: staff users and partner apps (OAuth2 clients), their roles and hashed secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import JSON
from sqlmodel import Field as TableField

from gateway.models.base import Model
from hanse.auth import ROLES
from hanse.db import UTCDateTime

# A username is a login name, not free text: no spaces or control characters, bounded.
USERNAME_PATTERN = r"^[A-Za-z0-9._@+-]+$"
MIN_PASSWORD_LENGTH = 12

Username = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=USERNAME_PATTERN)]
Role = str  # checked against hanse.auth.ROLES by the identity module, so the problem names `roles`


class User(Model, table=True):
    __tablename__ = "gateway_user"

    id: str = TableField(primary_key=True, max_length=64)
    username: str = TableField(index=True, unique=True, max_length=200)
    password_hash: str = TableField(max_length=512)
    roles: list[str] = TableField(default_factory=list, sa_type=JSON)
    created_at: datetime = TableField(sa_type=UTCDateTime)
    created_by: str = TableField(max_length=200)


class PartnerClient(Model, table=True):
    __tablename__ = "gateway_client"

    id: str = TableField(primary_key=True, max_length=64)
    client_id: str = TableField(index=True, unique=True, max_length=64)
    name: str = TableField(max_length=200)
    secret_hash: str = TableField(max_length=512)
    roles: list[str] = TableField(default_factory=list, sa_type=JSON)
    created_at: datetime = TableField(sa_type=UTCDateTime)
    created_by: str = TableField(max_length=200)


class UserCreate(BaseModel):
    username: Username
    password: str = Field(max_length=1000, description=f"at least {MIN_PASSWORD_LENGTH} characters")
    roles: list[Role] = Field(min_length=1, max_length=len(ROLES), description=f"any of {', '.join(ROLES)}")


class UserPublic(BaseModel):
    id: str
    username: str
    roles: list[str]
    created_at: datetime
    created_by: str


class ClientCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    roles: list[Role] = Field(default_factory=lambda: ["partner"], min_length=1, max_length=len(ROLES))


class ClientPublic(BaseModel):
    id: str
    client_id: str
    name: str
    roles: list[str]
    created_at: datetime
    created_by: str


class ClientCreated(ClientPublic):
    client_secret: str = Field(description="shown once; only its hash is stored")


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds until the token expires")
