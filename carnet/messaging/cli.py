"""``carnet messaging``: run the inbound SMTP gateway and deliver the outbox (to be registered in carnet/cli.py as
``app.add_typer(messaging_app, name="messaging")``)."""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from carnet.bootstrap import bootstrap
from carnet.settings import Settings

if TYPE_CHECKING:
    from carnet.messaging.smtp_server import InboundGateway

messaging_app = typer.Typer(help="Messagerie sécurisée : passerelle SMTP, envoi de la file sortante.",
                            no_args_is_help=True)  # fmt: skip


def gateway_from_settings(reuse_port: bool = False) -> tuple[InboundGateway, Callable[[], None]]:
    """The inbound gateway the settings (CARNET_MSS_INBOUND_*) describe, on a platform opened for it."""
    from carnet.messaging.service import MessagingConfig, make_handler
    from carnet.messaging.smtp_server import InboundGateway

    settings = Settings()
    platform = bootstrap(settings)
    context = None
    if settings.mss_inbound_tls_cert and settings.mss_inbound_tls_key:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(settings.mss_inbound_tls_cert, settings.mss_inbound_tls_key)
    gateway = InboundGateway(
        handler=make_handler(platform, MessagingConfig.from_settings(settings)),
        trusted_domains=settings.mss_trusted_domains,
        local_domains=sorted(settings.mss_hosted_domains),
        host=settings.mss_inbound_host,
        port=settings.mss_inbound_port,
        tls_context=context,
        require_starttls=settings.mss_inbound_require_starttls and context is not None,
        max_message_bytes=settings.mss_max_message_bytes,
        reuse_port=reuse_port,
    )
    return gateway, platform.close


@messaging_app.command("serve-smtp")
def serve_smtp(
    processes: int = typer.Option(1, min=1, max=64, help="Processus de la passerelle sur le même port (un par cœur)"),
) -> None:
    """Listen for mail from trusted MSSanté domains (CARNET_MSS_INBOUND_*) until interrupted."""
    settings = Settings()
    where = f"{settings.mss_inbound_host}:{settings.mss_inbound_port}"
    if processes == 1:
        gateway, close = gateway_from_settings()
        gateway.start()
        typer.echo(f"passerelle SMTP à l'écoute sur {where}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            gateway.stop()
            close()
        return
    from carnet.messaging.gateway_pool import GatewayPool

    pool = GatewayPool(functools.partial(gateway_from_settings, reuse_port=True), processes)
    try:
        pool.start()
    except RuntimeError as exc:
        typer.echo(f"erreur : {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"passerelle SMTP à l'écoute sur {where} ({processes} processus)")
    try:
        while True:
            if pool.supervise():
                typer.echo("un processus de la passerelle s'était arrêté : remplacé", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        pool.stop()


@messaging_app.command("deliver")
def deliver(limit: int = typer.Option(100, min=1, help="Lignes au plus par passage")) -> None:
    """Send the due messages of the outbox through the relay (CARNET_MSS_RELAY_*), once."""
    from carnet.messaging.outbox import deliver_outbox
    from carnet.messaging.transport import SmtpRelay

    settings = Settings()
    if not settings.mss_relay_host:
        typer.echo("aucun relais SMTP configuré (CARNET_MSS_RELAY_HOST)", err=True)
        raise typer.Exit(2)
    platform = bootstrap(settings)
    try:
        relay = SmtpRelay(
            host=settings.mss_relay_host,
            port=settings.mss_relay_port,
            starttls=settings.mss_relay_starttls,
            ca_file=str(settings.mss_relay_ca_file) if settings.mss_relay_ca_file else None,
            username=settings.mss_relay_username,
            password=settings.mss_relay_password.get_secret_value() if settings.mss_relay_password else None,
        )
        report = deliver_outbox(platform=platform, transport=relay, limit=limit)
    finally:
        platform.close()
    typer.echo(f"envoyés {report.sent}, à réessayer {report.retried}, abandonnés {report.failed}, "
               f"rejetés {report.bounced}")  # fmt: skip
