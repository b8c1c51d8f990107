"""Persistence of the catalogue: the apps and their referencing (application, convention, withdrawal), the
commission's reviews, and the holders' connections (each one a read grant and/or a feed grant of
``carnet.access``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.storage.orm import Base, IdColumn, TimestampMixin, UTCDateTime, new_id


class AppRow(TimestampMixin, Base):
    """An app of the catalogue, from its application to its withdrawal; its id is its OAuth ``client_id``."""

    __tablename__ = "catalogue_apps"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    publisher: Mapped[str] = mapped_column(String(200), nullable=False)
    publisher_account: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    website: Mapped[str | None] = mapped_column(String(500))
    categories_asked: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    feed_asked: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)  # categories to feed (write)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    security_statement: Mapped[str] = mapped_column(Text, nullable=False)
    interoperability_statement: Mapped[str] = mapped_column(Text, nullable=False)
    ethics_commitments: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    # The convention (signed by the operator) or the refusal.
    categories_granted: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    feed_granted: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decision_comment: Mapped[str | None] = mapped_column(Text)
    convention_ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The withdrawal.
    withdrawn_by: Mapped[str | None] = mapped_column(String(200))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_catalogue_apps_status", "status"),)


class ReviewRow(TimestampMixin, Base):
    """One review by the referencing commission: each criterion met or not with a comment, and the opinion."""

    __tablename__ = "catalogue_reviews"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("catalogue_apps.id"), nullable=False)
    round: Mapped[int] = mapped_column(Integer, nullable=False)  # 1, 2...: a later review supersedes the former
    reviewer: Mapped[str] = mapped_column(String(200), nullable=False)
    assessments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    opinion: Mapped[str] = mapped_column(String(12), nullable=False)
    comment: Mapped[str] = mapped_column(Text, nullable=False)
    reviewed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (Index("ix_catalogue_reviews_app", "app_id", "round", unique=True),)


class ConnectionRow(TimestampMixin, Base):
    """A holder's connection of an app: the grants it became (one reading ``categories``, one feeding
    ``feed_categories``; either may be absent), and the pending authorization code (hashed)."""

    __tablename__ = "catalogue_connections"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("catalogue_apps.id"), nullable=False)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    grant_id: Mapped[str | None] = mapped_column(IdColumn, ForeignKey("access_grants.id"))  # reading
    categories: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    feed_grant_id: Mapped[str | None] = mapped_column(IdColumn, ForeignKey("access_grants.id"))  # feeding
    feed_categories: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    connected_by: Mapped[str] = mapped_column(String(64), nullable=False)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_reason: Mapped[str | None] = mapped_column(String(32))  # disconnected | withdrawn | replaced
    # The authorization code: its SHA-256, its expiry, and what the token request must repeat (RFC 6749, PKCE).
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    code_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    redirect_uri: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        Index("ix_catalogue_connections_patient", "patient_id"),
        Index("ix_catalogue_connections_app", "app_id"),
    )


class CatalogueRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Any) -> None:
        self.session.add(row)

    def app(self, app_id: str) -> AppRow | None:
        return self.session.get(AppRow, app_id)

    def apps(self, status: str | None = None) -> list[AppRow]:
        stmt = select(AppRow).order_by(AppRow.name, AppRow.id)
        if status is not None:
            stmt = stmt.where(AppRow.status == status)
        return list(self.session.scalars(stmt))

    def app_named(self, name: str) -> AppRow | None:
        """An app of this name that is filed, reviewed or referenced (a name is unique among live apps)."""
        stmt = select(AppRow).where(AppRow.name == name, AppRow.status.in_(("applied", "reviewed", "referenced")))
        return self.session.scalars(stmt).first()

    def reviews(self, app_id: str) -> list[ReviewRow]:
        stmt = select(ReviewRow).where(ReviewRow.app_id == app_id).order_by(ReviewRow.round)
        return list(self.session.scalars(stmt))

    def connection(self, connection_id: str) -> ConnectionRow | None:
        return self.session.get(ConnectionRow, connection_id)

    def connection_by_code(self, code_hash: str) -> ConnectionRow | None:
        return self.session.scalars(select(ConnectionRow).where(ConnectionRow.code_hash == code_hash)).one_or_none()

    def connections_of_patient(self, patient_id: str) -> list[ConnectionRow]:
        stmt = (select(ConnectionRow).where(ConnectionRow.patient_id == patient_id)
                .order_by(ConnectionRow.created_at, ConnectionRow.id))  # fmt: skip
        return list(self.session.scalars(stmt))

    def open_connections_of_app(self, app_id: str) -> list[ConnectionRow]:
        stmt = (select(ConnectionRow).where(ConnectionRow.app_id == app_id, ConnectionRow.ended_at.is_(None))
                .order_by(ConnectionRow.created_at, ConnectionRow.id))  # fmt: skip
        return list(self.session.scalars(stmt))
