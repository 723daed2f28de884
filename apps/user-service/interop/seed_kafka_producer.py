# The seed's snippet after "Kafka Producer", lines 483-525, unchanged.
from kafka import KafkaProducer
import json

class KafkaMessageProducer:
    def __init__(self, bootstrap_servers=['localhost:9092']):
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            value_serializer=lambda v: json.dumps(v).encode('utf-8'),
            key_serializer=lambda k: k.encode('utf-8') if k else None,
            acks='all',  # Wait for all replicas
            retries=3,
            compression_type='lz4'
        )
    
    def send(self, topic, key, value):
        """Send message to Kafka."""
        future = self.producer.send(
            topic,
            key=key,
            value=value
        )
        
        # Wait for send to complete
        record_metadata = future.get(timeout=10)
        
        return {
            'topic': record_metadata.topic,
            'partition': record_metadata.partition,
            'offset': record_metadata.offset
        }
    
    def send_async(self, topic, key, value, callback=None):
        """Send message asynchronously."""
        future = self.producer.send(topic, key=key, value=value)
        
        if callback:
            future.add_callback(callback)
        
        return future
    
    def close(self):
        self.producer.flush()
        self.producer.close()
