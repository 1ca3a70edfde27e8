# Missiva's Airflow image for the team stack (docker-compose.yaml).
# The Airflow version here must match the `apache-airflow==` pin in requirements.txt
# (tests/unit/test_docker_compose.py checks it).
FROM apache/airflow:3.3.2-python3.11

# System libraries WeasyPrint needs to render PDF letters. libharfbuzz-subset0 makes font
# subsetting native instead of falling back to fontTools (about 6x faster, see DESIGN.md §4).
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        libharfbuzz-subset0 \
        fonts-dejavu-core \
        fonts-wqy-microhei \
    && apt-get autoremove -yqq --purge \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
USER airflow

# Dependencies first, so a code change does not reinstall them. Pinning apache-airflow to
# the image's own version (AIRFLOW_VERSION is set by the base image) keeps pip from ever
# replacing the Airflow the image was built with.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/airflow/project/
RUN pip install --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" \
        -r /opt/airflow/project/requirements.txt \
        -c /opt/airflow/project/constraints.txt

# The project itself, installed editable at the same path docker-compose.yaml mounts it
# on, so the mounted working tree is what every container imports.
COPY --chown=airflow:0 . /opt/airflow/project/
RUN pip install --no-cache-dir --no-deps -e /opt/airflow/project
