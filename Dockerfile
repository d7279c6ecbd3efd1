# The Airflow image of docker-compose.yaml: the official image of the Airflow version
# CI tests, plus this provider installed from the repository.
ARG AIRFLOW_VERSION=3.3.2
FROM apache/airflow:${AIRFLOW_VERSION}-python3.11
ARG AIRFLOW_VERSION

COPY --chown=airflow:root pyproject.toml README.md /opt/l4m/
COPY --chown=airflow:root plugins/l4m /opt/l4m/plugins/l4m
# Pinning apache-airflow keeps pip from changing the image's Airflow.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /opt/l4m \
 && mkdir -p /opt/airflow/auth && chmod g+rwx /opt/airflow/auth
