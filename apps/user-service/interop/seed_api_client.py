# The seed's snippet after "REST API Client", lines 23-67, unchanged.
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry
import logging

class APIClient:
    def __init__(self, base_url, timeout=30, max_retries=3):
        self.base_url = base_url
        self.session = requests.Session()
        
        # Configure retry strategy
        retry_strategy = Retry(
            total=max_retries,
            backoff_factor=1,
            status_forcelist=[429, 500, 502, 503, 504],
            allowed_methods=["HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "POST"]
        )
        
        adapter = HTTPAdapter(max_retries=retry_strategy)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
    
    def get(self, path, params=None, headers=None):
        url = f"{self.base_url}{path}"
        response = self.session.get(url, params=params, headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()
    
    def post(self, path, data=None, json=None, headers=None):
        url = f"{self.base_url}{path}"
        response = self.session.post(url, data=data, json=json, headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()
    
    def put(self, path, data=None, json=None, headers=None):
        url = f"{self.base_url}{path}"
        response = self.session.put(url, data=data, json=json, headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()
    
    def delete(self, path, headers=None):
        url = f"{self.base_url}{path}"
        response = self.session.delete(url, headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()
