"""The ceiling for HTTP: a bare FastAPI app with one trivial endpoint, nothing else."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}
