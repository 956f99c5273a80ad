"""The HTTP door: the FastAPI app, its lifespan (engine and pool), middleware, dependencies (``SessionDep``,
``TransactionDep``, ``BeheerKey``) and thin routes. It may import every package below it and ``maps``; the
domain never imports it (nor FastAPI)."""
