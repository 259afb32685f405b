FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /srv/pricewire
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --system pricewire && mkdir -p instance && chown pricewire instance
USER pricewire
EXPOSE 8000
CMD ["gunicorn", "-k", "gevent", "-w", "2", "--worker-connections", "10000", "-b", "0.0.0.0:8000", "wsgi:app"]
