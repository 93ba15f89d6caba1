# One image for every passwire process; docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api ./api
COPY workers ./workers
COPY shared ./shared
COPY config ./config
RUN pip install --no-cache-dir . && useradd --system passwire
USER passwire
EXPOSE 8000 5555
