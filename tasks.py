"""Invoke entry point: assembles the task namespace and nothing else."""

from invoke import Collection

from supadeploy.tasks import db, env, fleet, gh, local, nova, tokens

ns = Collection()
ns.add_collection(Collection.from_module(db))
ns.add_collection(Collection.from_module(env))
ns.add_collection(Collection.from_module(fleet))
ns.add_collection(Collection.from_module(gh))
ns.add_collection(Collection.from_module(local))
ns.add_collection(Collection.from_module(nova))
ns.add_collection(Collection.from_module(tokens))
