# Chemical Earth web, worker and beat image (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=chemearth.settings \
    PYTHONPATH=/app \
    CHEMEARTH_VAR_DIR=/var/lib/chemearth \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/var/lib/chemearth/media

# Fonts: map legends and map images draw text with DejaVu Sans, Chinese with Noto Sans CJK.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        gdal-bin libgdal-dev libgeos-dev libproj-dev gettext postgresql-client \
        fonts-dejavu-core fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 \
    && rm -rf /var/lib/apt/lists/*

# The source tree in /app (first on PYTHONPATH) carries templates/, static/ and locale/ beside the
# packages; `pip install .` brings the dependencies.
WORKDIR /app
COPY . /app
RUN pip install . \
    && useradd --system --home-dir /var/lib/chemearth --create-home chemearth \
    && mkdir -p /var/lib/chemearth/media /var/lib/chemearth/tiles /var/lib/chemearth/downloads \
    && chown -R chemearth:chemearth /var/lib/chemearth

# Static files and translations are built into the image; the dummy secret exists only for this
# step (production settings refuse to start without a real one at run time).
RUN CHEMEARTH_ENV=production DJANGO_SECRET_KEY=build-only-dummy DJANGO_ALLOWED_HOSTS=localhost \
        python manage.py collectstatic --noinput -v 0 \
    && if [ -d locale ]; then python manage.py compilemessages --ignore=.venv -v 0; fi

USER chemearth
EXPOSE 8000
CMD ["gunicorn", "chemearth.wsgi:application", "-b", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
