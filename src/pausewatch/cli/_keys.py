"""`pausewatch keys`: create and show Ed25519 key pairs."""

from __future__ import annotations

from typing import Annotated

import typer

from pausewatch.cli._common import DataDirOpt, JsonOpt, KeysDirOpt, keys_dir, out, print_json
from pausewatch.ledger import ALG_COSIGNATURE_V1
from pausewatch.statements import KeyPair, load_key, write_key

app = typer.Typer(
    help="Create and show Ed25519 key pairs (C2SP note key format).", no_args_is_help=True
)


@app.command("new")
def new(
    name: Annotated[
        str, typer.Argument(help="Key name, e.g. 'secretariat' or 'example.org/witness'.")
    ],
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing key.")] = False,
) -> None:
    """Write a new key pair: NAME.key (mode 0600, never printed) and NAME.pub."""
    directory = keys_dir(keys_dir_opt, data_dir)
    key = KeyPair.generate(name)
    private, public = write_key(directory, key, overwrite=force)
    out.print(f"wrote {private} (private, 0600) and {public}")
    out.print(f"public key: {key.verifier.to_string()}")


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Key name.")],
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a key's public forms and its id (never the private key)."""
    key = load_key(keys_dir(keys_dir_opt, data_dir), name)
    info = {
        "name": key.name,
        "id": key.fingerprint,
        "signer": key.signer_id,
        "verifier_key": key.verifier.to_string(),
        "cosignature_verifier_key": key.signer.verifier(ALG_COSIGNATURE_V1).to_string(),
    }
    if as_json:
        print_json(info)
        return
    out.print(f"name:             {info['name']}")
    out.print(f"id:               {info['id']}")
    out.print(f"statement signer: {info['signer']}")
    out.print(f"verifier key:     {info['verifier_key']}")
    out.print(f"as a witness:     {info['cosignature_verifier_key']}")
